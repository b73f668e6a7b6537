"""A backfill as a user launches it from the UI: `dagster dev` running, an asset backfill sent over GraphQL.

The webserver gets the same `launchPartitionBackfill` mutation the asset page's "Materialize" dialog
sends (asset selection + partition names); the daemon inside `dagster dev` then builds the runs (ranged
runs where the assets' `BackfillPolicy` allows) and the run queue launches each in its own process.
Timed from the mutation until every partition of the backfill is materialized and no run is left;
the daemon's pick-up delay (its loop sleeps up to 30 s) is part of what a user waits and is reported apart.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from benchmarks.memory import PeakRss

DAGSTER = str(Path(sys.executable).parent / "dagster")
TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}
LAUNCH = """
mutation($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
  }
}"""
RUNS = """
query($id: String!) {
  runsOrError(filter: {tags: [{key: "dagster/backfill", value: $id}]}) {
    ... on Runs { results { runId status startTime endTime tags { key value } } }
  }
  partitionBackfillOrError(backfillId: $id) { ... on PartitionBackfill { status } }
}"""
LOADED = "{ workspaceOrError { ... on Workspace { locationEntries { loadStatus } } } }"


class DagsterDev:
    """`dagster dev` on a free loopback port with the given environment (DAGSTER_HOME, TAXI_*), as a user runs it."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.process = subprocess.Popen(
            [DAGSTER, "dev", "-m", "taxi_platform.definitions", "-h", "127.0.0.1", "-p", str(self.port)],
            cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                entries = self.graphql(LOADED)["workspaceOrError"]["locationEntries"]
                if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                    return
            except (OSError, KeyError, TypeError, ValueError):
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("dagster dev did not load the code location within 180 s")

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/graphql", data=body,
                                         headers={"Content-Type": "application/json"})  # fmt: skip
        answer = json.loads(urllib.request.urlopen(request, timeout=30).read())
        if answer.get("errors"):
            raise RuntimeError(f"GraphQL: {answer['errors']}")
        return answer["data"]

    def backfill(self, assets: list[str], partitions: list[str], timeout: float = 3600) -> dict:
        """Launch an asset backfill of `assets` x `partitions` (key strings) and wait for it; its timings."""
        params = {"assetSelection": [{"path": [name]} for name in assets], "partitionNames": partitions}
        load = os.getloadavg()[0]
        with PeakRss(self.process.pid) as memory:
            started = time.time()
            launched = self.graphql(LAUNCH, {"params": params})["launchPartitionBackfill"]
            if launched["__typename"] != "LaunchBackfillSuccess":
                raise RuntimeError(f"backfill not launched: {launched}")
            backfill_id = launched["backfillId"]
            while True:
                data = self.graphql(RUNS, {"id": backfill_id})
                runs = data["runsOrError"]["results"]
                status = data["partitionBackfillOrError"]["status"]
                if status not in ("REQUESTED",) and runs and all(r["status"] in TERMINAL for r in runs):
                    break
                if time.time() - started > timeout:
                    raise RuntimeError(f"backfill {backfill_id} not done in {timeout:.0f} s: {status}, {runs}")
                time.sleep(0.5)
            seen = time.time()
        failed = [r["runId"] for r in runs if r["status"] != "SUCCESS"]
        if failed:
            raise RuntimeError(f"backfill {backfill_id}: runs {failed} did not succeed ({status})")
        first_start = min(r["startTime"] for r in runs)
        last_end = max(r["endTime"] for r in runs)
        return {
            "wall_s": last_end - started,  # launch -> the last run ends: every partition materialized
            "daemon_pickup_s": first_start - started,  # mostly the backfill daemon's 30 s loop
            "runs_s": last_end - first_start,
            "status_seen_s": seen - started,  # when the backfill itself shows as done (a later daemon pass)
            "runs": len(runs),
            "status": status,
            "tree_rss_mib": memory.peak_mib,
            "load_before": load,
            "load_after": os.getloadavg()[0],
        }

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGINT)  # the process group `dagster dev` leads (Ctrl-C)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
