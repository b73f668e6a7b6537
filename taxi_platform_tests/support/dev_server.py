"""A Dagster UI started the way a user starts it (`scripts/dev`, `dg dev`), asked over its GraphQL API.

The server runs in its own process group on a free loopback port; leaving `serving` stops the whole
group and fails the test if any process of it survives.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from taxi_platform_tests.support.data import REPO
from taxi_platform_tests.support.processes import free_port, reset_signals, stop_group

ASSETS = ("raw_trips", "typed_trips", "gcs_trips", "revenue_report", "bigquery_revenue")  # the partitioned chain
ZONE_ASSET = "taxi_zones"  # not partitioned; materialized before the chain's first report
LOCATION_NAME = "taxi_platform"
STARTUP_SECONDS = 90
# Loopback only, whatever proxy the environment names.
HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))

WORKSPACE_QUERY = """
{ workspaceOrError {
    __typename
    ... on Workspace { locationEntries {
        name loadStatus
        locationOrLoadError { __typename ... on PythonError { message causes { message } } }
    } }
    ... on PythonError { message }
} }
"""
ASSETS_QUERY = """
{ assetNodes {
    assetKey { path }
    partitionDefinition { type dimensionTypes { name type } }
    partitionKeysByDimension { name partitionKeys }
} }
"""


@dataclass
class DevServer:
    command: str  # how the user starts it, for messages: "scripts/dev", "dg dev"
    url: str
    process: subprocess.Popen
    log: Path

    def log_tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:]

    def get(self, path: str, timeout: float = 10) -> str:
        with HTTP.open(self.url + path, timeout=timeout) as response:
            return response.read().decode()

    def graphql(self, query: str, **variables: object) -> dict:
        request = urllib.request.Request(
            self.url + "/graphql",
            data=json.dumps({"query": query, "variables": variables}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with HTTP.open(request, timeout=30) as response:
            body = json.load(response)
        assert not body.get("errors"), f"GraphQL errors: {body['errors']}"
        return body["data"]


@contextmanager
def serving(command: str, args: list[str], port: int, env: dict[str, str], log: Path) -> Iterator[DevServer]:
    """Run `args` (a server that listens on 127.0.0.1:`port`) from the repository root until the block ends."""
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            args,
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=reset_signals,
        )
    try:
        yield DevServer(command=command, url=f"http://127.0.0.1:{port}", process=process, log=log)
    finally:
        survivors = stop_group(process)
    assert not survivors, f"{command} left processes behind: {survivors}"


def wait_until_loaded(server: DevServer) -> None:
    """Wait for the webserver to answer and the `taxi_platform` code location to finish loading."""
    deadline = time.monotonic() + STARTUP_SECONDS
    last_problem = "no answer yet"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"{server.command} exited with {server.process.returncode}:\n{server.log_tail()}")
        try:
            server.get("/server_info", timeout=2)
            workspace = server.graphql(WORKSPACE_QUERY)["workspaceOrError"]
        except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
            last_problem = repr(error)
        else:
            assert workspace["__typename"] == "Workspace", workspace
            entries = {entry["name"]: entry for entry in workspace["locationEntries"]}
            entry = entries.get(LOCATION_NAME)
            if entry and entry["loadStatus"] == "LOADED":
                location = entry["locationOrLoadError"] or {}
                if location.get("__typename") != "RepositoryLocation":
                    errors = [location.get("message"), *(cause["message"] for cause in location.get("causes", []))]
                    pytest.fail(f"code location {LOCATION_NAME} failed to load:\n" + "\n".join(map(str, errors)))
                return
            last_problem = f"locations: {entries}"
        time.sleep(0.5)
    pytest.fail(f"{server.command}: UI not ready within {STARTUP_SECONDS}s ({last_problem}):\n{server.log_tail()}")


@contextmanager
def running_dev(env: dict[str, str], root: Path) -> Iterator[DevServer]:
    """`scripts/dev` on a free port with `env`, logging to `root`/dev.log; yields once the code location has loaded."""
    port = free_port()
    args = [str(REPO / "scripts" / "dev")]
    with serving("scripts/dev", args, port, {**env, "PORT": str(port)}, root / "dev.log") as server:
        wait_until_loaded(server)
        yield server
