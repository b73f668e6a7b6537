"""GCS and BigQuery emulators on loopback, each in its own process, for the tests and for manual use.

    .venv/bin/python -m taxi_platform_tests.support.emulators [--project demo-project] [--mirror-dir DIR]

starts both, prints their endpoints and how to point clients at them, and runs until Ctrl-C.

- `GcsEmulator`: gcp-storage-emulator patched for the Hadoop connector (`gcs_emulator_server.py`), in a
  subprocess so Spark's JVM and other processes reach it too. With `mirror_dir`, objects are also
  written to `mirror_dir/bucket/name`; a `BigQueryEmulator(gcs_local_root=mirror_dir)` then resolves
  `gs://` load URIs to the same bytes.
- `BigQueryEmulator`: bqemulator from `.venv-bqemulator` (made by scripts/setup), REST on a free port.

Clients: google-cloud-storage and google-cloud-bigquery take `client_options={"api_endpoint": endpoint}`
and `AnonymousCredentials()`; Spark takes `taxi_platform.spark.gcs.gcs_connector_settings(endpoint, ...)`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import IO, TYPE_CHECKING

from taxi_platform_tests.support.data import REPO
from taxi_platform_tests.support.processes import free_ports

if TYPE_CHECKING:
    from google.cloud import bigquery, storage

BQ_VENV = REPO / ".venv-bqemulator"
DEFAULT_PROJECT = "taxi-platform-test"


class EmulatorError(RuntimeError):
    pass


def unique_name(prefix: str, separator: str = "-") -> str:
    """A bucket or dataset name of one test's own: the emulators live for the whole session."""
    return f"{prefix}{separator}{uuid.uuid4().hex[:8]}"


def _parent_death_signal():
    """A preexec_fn: on Linux the emulator gets SIGTERM when its parent dies (even by SIGKILL).

    Resolved here, before any fork, so the child only makes one libc call (no imports after fork).
    """
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    prctl = ctypes.CDLL(None, use_errno=True).prctl
    pr_set_pdeathsig = 1
    return lambda: prctl(pr_set_pdeathsig, signal.SIGTERM)


_DIE_WITH_PARENT = _parent_death_signal()


def _tail(log: IO[bytes] | None, limit: int = 4000) -> str:
    if log is None:
        return ""
    log.flush()
    log.seek(0, os.SEEK_END)
    size = log.tell()
    log.seek(max(0, size - limit))
    return log.read().decode(errors="replace")


def _http_get(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


class _Subprocess:
    """A server process whose output goes to a temporary file (read back when it fails)."""

    name = "emulator"

    def __init__(self) -> None:
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.startup_seconds: float | None = None

    def _spawn(self, args: list[str], env: dict[str, str], stdout: int | IO[bytes] | None = None) -> None:
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - open while the process runs; closed in stop()
        self._process = subprocess.Popen(
            args,
            env=env,
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=stdout if stdout is not None else self._log,
            stderr=self._log,
            # A killed test run (timeout, CI abort) must not leave emulators behind.
            preexec_fn=_DIE_WITH_PARENT,
        )

    def _failure(self, why: str) -> EmulatorError:
        tail = _tail(self._log)
        self.stop()
        return EmulatorError(f"{self.name} {why}; its output ends with:\n{tail or '(nothing)'}")

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        if process is not None and process.stdout is not None:
            process.stdout.close()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self):  # pragma: no cover - overridden
        raise NotImplementedError


class GcsEmulator(_Subprocess):
    """The patched gcp-storage-emulator (in memory) on a free 127.0.0.1 port."""

    name = "GCS emulator (gcp-storage-emulator)"

    def __init__(self, mirror_dir: Path | None = None, timeout: float = 30.0) -> None:
        super().__init__()
        self.mirror_dir = Path(mirror_dir) if mirror_dir else None
        self.timeout = timeout
        self._endpoint: str | None = None

    @property
    def endpoint(self) -> str:
        if self._endpoint is None:
            raise EmulatorError(f"{self.name} is not started")
        return self._endpoint

    def start(self) -> GcsEmulator:
        began = time.monotonic()
        args = [sys.executable, "-m", "taxi_platform_tests.support.gcs_emulator_server", "--port", "0"]
        if self.mirror_dir is not None:
            args += ["--mirror-dir", str(self.mirror_dir)]
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        self._spawn(args, env, stdout=subprocess.PIPE)
        # The server prints "READY <url>" once it listens on a port it chose (no port race).
        line: list[bytes] = []
        assert self._process is not None and self._process.stdout is not None
        reader = threading.Thread(target=lambda: line.append(self._process.stdout.readline()), daemon=True)
        reader.start()
        reader.join(self.timeout)
        text = line[0].decode().strip() if line else ""
        if not text.startswith("READY "):
            why = "exited" if self._process.poll() is not None else f"did not start within {self.timeout:.0f} s"
            raise self._failure(why)
        self._endpoint = text.split(" ", 1)[1]
        if _http_get(self._endpoint + "/")[0] != 200:
            raise self._failure("does not answer its health check")
        self.startup_seconds = time.monotonic() - began
        return self

    def stop(self) -> None:
        super().stop()
        self._endpoint = None

    def _request(self, method: str, path: str, body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.endpoint + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                raw = response.read()
        except urllib.error.HTTPError as err:
            raise EmulatorError(f"{method} {path}: {err.code} {err.read().decode(errors='replace')}") from err
        try:
            return json.loads(raw) if raw else {}
        except ValueError:
            return {}

    def create_bucket(self, name: str) -> str:
        """Create the bucket (no error if it exists); returns its name."""
        try:
            self._request("POST", "/storage/v1/b", {"name": name})
        except EmulatorError as err:
            if " 409 " not in str(err):
                raise
        return name

    def reset(self) -> None:
        """Delete every bucket and object (and the mirror's copies): cheap, it all lives in memory."""
        status, body = _http_get(self.endpoint + "/wipe")
        if status != 200:
            raise EmulatorError(f"wipe failed: {status} {body[:200]!r}")

    def client_env(self) -> dict[str, str]:
        """Environment for client libraries that read the emulator variable (google-cloud-storage)."""
        return {"STORAGE_EMULATOR_HOST": self.endpoint}

    def client(self, project: str = DEFAULT_PROJECT) -> storage.Client:
        """A google-cloud-storage client of this emulator, built apart from the platform's own clients."""
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        return storage.Client(
            project=project, credentials=AnonymousCredentials(), client_options={"api_endpoint": self.endpoint}
        )


class BigQueryEmulator(_Subprocess):
    """bqemulator (REST + gRPC) from `.venv-bqemulator`, in memory, on free 127.0.0.1 ports."""

    name = "BigQuery emulator (bqemulator)"

    def __init__(
        self,
        project: str = DEFAULT_PROJECT,
        gcs_local_root: Path | None = None,
        venv: Path = BQ_VENV,
        timeout: float = 60.0,
    ) -> None:
        super().__init__()
        self.project = project
        self.gcs_local_root = Path(gcs_local_root) if gcs_local_root else None
        self.venv = Path(venv)
        self.timeout = timeout
        self.rest_port: int | None = None
        self.grpc_port: int | None = None

    @property
    def executable(self) -> Path:
        return self.venv / "bin" / "bqemulator"

    @property
    def home(self) -> Path:
        """HOME the emulator runs with: scripts/setup installed DuckDB's spatial extension under it."""
        return self.venv / "home"

    def check_installed(self) -> None:
        if not self.executable.exists() or not (self.home / ".duckdb").is_dir():
            raise EmulatorError(
                f"{self.name} is not installed in {self.venv}: run scripts/setup "
                "(it creates .venv-bqemulator from requirements-bqemulator.lock)"
            )

    @property
    def endpoint(self) -> str:
        if self.rest_port is None:
            raise EmulatorError(f"{self.name} is not started")
        return f"http://127.0.0.1:{self.rest_port}"

    def client(self) -> bigquery.Client:
        """A google-cloud-bigquery client of this emulator's project, built apart from the platform's own clients."""
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import bigquery

        return bigquery.Client(
            project=self.project, credentials=AnonymousCredentials(), client_options={"api_endpoint": self.endpoint}
        )

    @property
    def grpc_endpoint(self) -> str:
        if self.grpc_port is None:
            raise EmulatorError(f"{self.name} is not started")
        return f"127.0.0.1:{self.grpc_port}"

    def start(self) -> BigQueryEmulator:
        self.check_installed()
        began = time.monotonic()
        self.rest_port, self.grpc_port = free_ports(2)
        env = {k: v for k, v in os.environ.items() if not k.startswith("BQEMU_")}
        env.update(
            HOME=str(self.home),
            # Otherwise it tries to download DuckDB's avro extension at start.
            BQEMU_ENABLE_FORMAT_EXTENSIONS="false",
            BQEMU_LOG_FORMAT="console",
            BQEMU_LOG_LEVEL="warning",
            BQEMU_METRICS_ENABLED="false",
        )
        if self.gcs_local_root is not None:
            env["BQEMU_GCS_LOCAL_ROOT"] = str(self.gcs_local_root)
        # Its own venv first on PATH, and none of ours leaking in.
        env.pop("VIRTUAL_ENV", None)
        env.pop("PYTHONPATH", None)
        env["PATH"] = os.pathsep.join([str(self.venv / "bin"), env.get("PATH", "")])
        args = [
            str(self.executable), "start", "--ephemeral",
            "--rest-host", "127.0.0.1", "--rest-port", str(self.rest_port),
            "--grpc-host", "127.0.0.1", "--grpc-port", str(self.grpc_port),
            "--project", self.project,
        ]  # fmt: skip
        self._spawn(args, env)
        deadline = began + self.timeout
        while True:
            if self._process is None or self._process.poll() is not None:
                raise self._failure("exited")
            with contextlib.suppress(OSError):
                if _http_get(self.endpoint + "/readyz", timeout=1.0)[0] == 200:
                    break
            if time.monotonic() > deadline:
                raise self._failure(f"did not answer /readyz within {self.timeout:.0f} s")
            time.sleep(0.1)
        self.startup_seconds = time.monotonic() - began
        return self

    def stop(self) -> None:
        super().stop()
        self.rest_port = self.grpc_port = None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Start the GCS and BigQuery emulators on loopback.")
    parser.add_argument("--project", default=DEFAULT_PROJECT)
    parser.add_argument("--bucket", action="append", default=[], help="bucket to create (repeatable)")
    parser.add_argument("--mirror-dir", type=Path, help="GCS objects also written here; BigQuery gs:// loads read it")
    parser.add_argument("--no-bigquery", action="store_true")
    args = parser.parse_args(argv)

    gcs = GcsEmulator(mirror_dir=args.mirror_dir).start()
    bigquery = None
    try:
        for bucket in args.bucket:
            gcs.create_bucket(bucket)
        print(f"GCS      {gcs.endpoint}   (started in {gcs.startup_seconds:.1f} s)")
        print(f"  export STORAGE_EMULATOR_HOST={gcs.endpoint}")
        print(f"  Spark: taxi_platform.spark.gcs.gcs_connector_settings({gcs.endpoint!r}, {args.project!r})")
        if not args.no_bigquery:
            bigquery = BigQueryEmulator(args.project, gcs_local_root=args.mirror_dir).start()
            print(f"BigQuery {bigquery.endpoint}   gRPC {bigquery.grpc_endpoint}   project {bigquery.project}")
            print(f"  (started in {bigquery.startup_seconds:.1f} s)")
            print(
                f"  bigquery.Client(project={bigquery.project!r}, credentials=AnonymousCredentials(), "
                f"client_options={{'api_endpoint': {bigquery.endpoint!r}}})"
            )
        print("Ctrl-C stops them.", flush=True)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        while gcs.running and (bigquery is None or bigquery.running):
            time.sleep(0.5)
        print("an emulator exited", file=sys.stderr)
    except KeyboardInterrupt:
        pass
    finally:
        if bigquery is not None:
            bigquery.stop()
        gcs.stop()


if __name__ == "__main__":
    main()
