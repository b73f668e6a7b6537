"""A real Spark standalone cluster on 127.0.0.1: one master and one worker from the pip wheel.

The wheel has no `start-master.sh`/`start-worker.sh`; `spark-class` runs the same daemons:

    python -m taxi_platform_tests.support.standalone   # prints the master URL, Ctrl-C stops both
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pyspark

from taxi_platform_tests.support.processes import free_ports

SPARK_CLASS = Path(pyspark.__file__).parent / "bin" / "spark-class"
HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def get_json(url: str) -> dict:
    with HTTP.open(url, timeout=5) as response:
        return json.load(response)


class StandaloneCluster:
    def __init__(self, cores: int = 2, memory: str = "2g") -> None:
        self.port, self.master_ui, self.worker_ui = free_ports(3)
        self.cores, self.memory = cores, memory
        self.work_dir = Path(tempfile.mkdtemp(prefix="spark-worker-"))
        self._processes: list[subprocess.Popen] = []

    @property
    def master_url(self) -> str:
        return f"spark://127.0.0.1:{self.port}"

    def master_state(self) -> dict:
        return get_json(f"http://127.0.0.1:{self.master_ui}/json/")

    def worker_state(self) -> dict:
        return get_json(f"http://127.0.0.1:{self.worker_ui}/json/")

    def _spawn(self, *args: str) -> None:
        env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": sys.executable}
        log = (self.work_dir / f"{args[0].rsplit('.', 1)[-1]}.log").open("wb")
        self._processes.append(
            subprocess.Popen(
                [str(SPARK_CLASS), *args], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        )

    def start(self, timeout: float = 60.0) -> StandaloneCluster:
        self._spawn("org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(self.port),
                    "--webui-port", str(self.master_ui))  # fmt: skip
        self._spawn("org.apache.spark.deploy.worker.Worker", self.master_url, "--host", "127.0.0.1",
                    "--cores", str(self.cores), "--memory", self.memory, "--webui-port", str(self.worker_ui),
                    "--work-dir", str(self.work_dir))  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if any(w["state"] == "ALIVE" for w in self.master_state()["workers"]):
                    return self
            except OSError:
                pass
            time.sleep(0.5)
        logs = "\n".join(p.read_text(errors="replace")[-2000:] for p in self.work_dir.glob("*.log"))
        self.stop()
        raise RuntimeError(f"standalone cluster did not come up in {timeout:.0f}s:\n{logs}")

    def stop(self) -> None:
        for process in reversed(self._processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self._processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        self._processes.clear()


if __name__ == "__main__":
    cluster = StandaloneCluster().start()
    print(f"master {cluster.master_url}  UI http://127.0.0.1:{cluster.master_ui}", flush=True)
    try:
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        cluster.stop()
