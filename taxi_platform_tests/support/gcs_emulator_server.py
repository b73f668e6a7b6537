"""gcp-storage-emulator patched so the Hadoop GCS connector (Spark) and parallel clients can use it.

Run as its own process (``GcsEmulator`` in ``emulators.py`` does)::

    python -m taxi_platform_tests.support.gcs_emulator_server [--port 0] [--mirror-dir DIR]

and it prints ``READY http://127.0.0.1:PORT`` on stdout once it accepts connections.

The patches, each needed by a client measured here:

- a threaded HTTP server (the connector keeps several connections open at once), whose request handlers
  take turns under one lock: the emulator's storage is plain dicts shared by every request;
- errors answered with a JSON ``{"error": ...}`` body (the connector parses the body of a 404), and a
  handler crash answered as a JSON 500 instead of a dropped connection;
- in-memory storage only (disk mode cannot hold ``dir/`` markers next to ``dir/file``), without the
  emulator's full-metadata JSON rewrite after every write, and without soft delete (which would keep a
  copy of every object Spark renames);
- optionally ``--mirror-dir``: objects are also written through to ``DIR/bucket/name``, so the BigQuery
  emulator (``BQEMU_GCS_LOCAL_ROOT=DIR``) can resolve ``gs://`` load URIs to the same bytes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
import threading
from functools import partial
from http import HTTPStatus
from http.server import ThreadingHTTPServer
from pathlib import Path

from gcp_storage_emulator import server as gcs_server
from gcp_storage_emulator import storage as gcs_storage

logger = logging.getLogger("gcs_emulator_server")

# Internal folders of the emulator's store that are not buckets.
_INTERNAL_DIRS = {gcs_storage.RESUMABLE_DIR, gcs_storage.SOFT_DELETE_DIR}
_REASONS = {400: "invalid", 404: "notFound", 409: "conflict", 412: "conditionNotMet", 501: "notImplemented"}


def _error_body(status: int, message: str) -> str:
    reason = _REASONS.get(status, "backendError" if status >= 500 else "invalid")
    return json.dumps(
        {
            "error": {
                "code": status,
                "message": message,
                "errors": [{"domain": "global", "reason": reason, "message": message}],
            }
        }
    )


class _JsonErrorResponse(gcs_server.Response):
    """The emulator's response, with a JSON body on errors that it leaves empty."""

    def close(self):
        status = self.status.value
        if status >= 400 and not self._content:
            self["Content-type"] = "application/json; charset=UTF-8"
            self._content = _error_body(status, self.status.phrase)
        super().close()


class _MirroredStore(gcs_storage._FileStore):
    """In-memory store that also writes objects through to ``root/bucket/name`` on disk."""

    def __init__(self, root: Path) -> None:
        super().__init__(use_memory=True)
        self._mirror = root
        self._mirror.mkdir(parents=True, exist_ok=True)

    def _mirror_path(self, rel: str) -> Path | None:
        norm = self._norm(rel)
        if not norm or norm == ".meta" or norm.split("/", 1)[0] in _INTERNAL_DIRS:
            return None
        return self._mirror.joinpath(*norm.split("/"))

    def makedirs(self, rel: str) -> None:
        super().makedirs(rel)
        path = self._mirror_path(rel)
        if path is not None:
            with contextlib.suppress(OSError):
                path.mkdir(parents=True, exist_ok=True)

    def write_bytes(self, rel: str, content: bytes) -> None:
        super().write_bytes(rel, content)
        path = self._mirror_path(rel)
        if path is None:
            return
        try:
            if rel.endswith("/"):  # a "directory" marker object
                path.mkdir(parents=True, exist_ok=True)
                return
            path.parent.mkdir(parents=True, exist_ok=True)
            # Atomic: a reader of the mirror never sees half an object.
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            with os.fdopen(fd, "wb") as out:
                out.write(content)
            os.replace(tmp, path)
        except OSError as err:  # e.g. objects "a" and "a/b": legal in GCS, not on a disk
            logger.warning("mirror: cannot write %s: %s", path, err)

    def remove_file(self, rel: str) -> None:
        super().remove_file(rel)
        path = self._mirror_path(rel)
        if path is not None:
            with contextlib.suppress(OSError):
                if path.is_dir():
                    path.rmdir()  # a marker: only if nothing is left under it
                else:
                    path.unlink()

    def remove_tree(self, rel: str) -> None:
        super().remove_tree(rel)
        path = self._mirror_path(rel)
        if path is not None:
            shutil.rmtree(path, ignore_errors=True)


def _no_soft_delete(self, bucket_name):
    policy = (self.buckets.get(bucket_name) or {}).get("softDeletePolicy") or {}
    return int(policy.get("retentionDurationSeconds") or 0)


def make_storage(mirror_dir: Path | None = None) -> gcs_storage.Storage:
    storage = gcs_storage.Storage(use_memory_fs=True, data_dir=tempfile.gettempdir())
    if mirror_dir is not None:
        storage._store = _MirroredStore(mirror_dir)
    return storage


def _patch_emulator() -> None:
    gcs_server.Response = _JsonErrorResponse
    # In memory nothing reads the metadata file back: skip serialising all metadata on every write.
    gcs_storage.Storage._write_config_to_file = lambda self: None
    gcs_storage.Storage._bucket_soft_delete_retention_seconds = _no_soft_delete


class _Handler(gcs_server.RequestHandler):
    lock = threading.Lock()

    def _route(self, method: str) -> None:
        with self.lock:
            try:
                gcs_server.Router(self).handle(method)
            except Exception as err:  # answered, not a dropped connection
                logger.exception("handler failed: %s %s", method, self.path)
                body = _error_body(500, f"{type(err).__name__}: {err}").encode()
                self.send_response(HTTPStatus.INTERNAL_SERVER_ERROR.value)
                self.send_header("Content-type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - BaseHTTPRequestHandler's name
        self._route(gcs_server.GET)

    def do_POST(self) -> None:  # noqa: N802 - BaseHTTPRequestHandler's name
        self._route(gcs_server.POST)

    def do_PUT(self) -> None:  # noqa: N802 - BaseHTTPRequestHandler's name
        self._route(gcs_server.PUT)

    def do_DELETE(self) -> None:  # noqa: N802 - BaseHTTPRequestHandler's name
        self._route(gcs_server.DELETE)

    def do_PATCH(self) -> None:  # noqa: N802 - BaseHTTPRequestHandler's name
        self._route(gcs_server.PATCH)

    def log_message(self, format, *args):
        logger.debug(format, *args)


def make_server(host: str = "127.0.0.1", port: int = 0, mirror_dir: Path | None = None) -> ThreadingHTTPServer:
    _patch_emulator()
    httpd = ThreadingHTTPServer((host, port), partial(_Handler, make_storage(mirror_dir)))
    httpd.daemon_threads = True
    return httpd


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed on stdout)")
    parser.add_argument("--mirror-dir", type=Path, help="also write objects to DIR/bucket/name")
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")

    httpd = make_server(args.host, args.port, args.mirror_dir)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=httpd.shutdown, daemon=True).start())
    host, port = httpd.server_address[:2]
    print(f"READY http://{host}:{port}", flush=True)
    try:
        httpd.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()


if __name__ == "__main__":
    main()
