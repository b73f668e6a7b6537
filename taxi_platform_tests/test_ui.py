"""The start command works: `scripts/dev` serves the UI, which lists the five partitioned assets.

Starts the real `scripts/dev` on a free loopback port with a throwaway DAGSTER_HOME and data folder,
asks its GraphQL API for the asset nodes, then renders the asset catalog in headless Chromium
(Debian's `chromium`; CI installs it) to prove the JavaScript app really shows them.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from taxi_platform.tlc.months import COLORS

REPO = Path(__file__).resolve().parents[1]
# Debian's chromium by default; elsewhere (macOS) point CHROMIUM at a Chrome/Chromium binary.
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ASSETS = ("raw_trips", "typed_trips", "gcs_trips", "revenue_report", "bigquery_revenue")
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
    url: str
    process: subprocess.Popen
    log: Path

    def log_tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:]

    def get(self, path: str, timeout: float = 10) -> str:
        with HTTP.open(self.url + path, timeout=timeout) as response:
            return response.read().decode()

    def graphql(self, query: str) -> dict:
        request = urllib.request.Request(
            self.url + "/graphql",
            data=json.dumps({"query": query}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with HTTP.open(request, timeout=30) as response:
            body = json.load(response)
        assert not body.get("errors"), f"GraphQL errors: {body['errors']}"
        return body["data"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _reset_signals() -> None:
    # A shell that starts pytest in the background leaves SIGINT ignored; `dagster dev` copies
    # SIGINT's handler onto SIGTERM, so without this it would ignore the teardown's SIGTERM.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def group_members(pgid: int) -> list[str]:
    """The live (not zombie) processes of a process group, as "pid command".

    Zombies do not count: an orphan is only reaped by PID 1, which in a container may be pytest.
    """
    members = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            stat = (proc / "stat").read_text()
            command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # exited while we looked
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            members.append(f"{proc.name} {command[:150]}")
    return members


def signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signum)


def stop_group(process: subprocess.Popen, grace_seconds: float = 20) -> list[str]:
    """SIGTERM the whole process group, SIGKILL it after the grace period; returns what survived."""
    pgid = process.pid  # start_new_session: the leader's pid is the group id
    for signum, seconds in ((signal.SIGTERM, grace_seconds), (signal.SIGKILL, 10)):
        if process.poll() is not None and not group_members(pgid):
            break
        signal_group(pgid, signum)
        deadline = time.monotonic() + seconds
        while (process.poll() is None or group_members(pgid)) and time.monotonic() < deadline:
            time.sleep(0.1)
    return group_members(pgid)


def wait_until_loaded(server: DevServer) -> None:
    """Wait for the webserver to answer and the `taxi_platform` code location to finish loading."""
    deadline = time.monotonic() + STARTUP_SECONDS
    last_problem = "no answer yet"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"scripts/dev exited with {server.process.returncode}:\n{server.log_tail()}")
        try:
            server.get("/server_info", timeout=2)
            workspace = server.graphql(WORKSPACE_QUERY)["workspaceOrError"]
        except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
            last_problem = repr(error)
        else:
            assert workspace["__typename"] == "Workspace", workspace
            entries = {entry["name"]: entry for entry in workspace["locationEntries"]}
            entry = entries.get("taxi_platform")
            if entry and entry["loadStatus"] == "LOADED":
                location = entry["locationOrLoadError"] or {}
                if location.get("__typename") != "RepositoryLocation":
                    errors = [location.get("message"), *(cause["message"] for cause in location.get("causes", []))]
                    pytest.fail("code location taxi_platform failed to load:\n" + "\n".join(map(str, errors)))
                return
            last_problem = f"locations: {entries}"
        time.sleep(0.5)
    pytest.fail(f"UI not ready within {STARTUP_SECONDS}s ({last_problem}):\n{server.log_tail()}")


@pytest.fixture(scope="module")
def dev_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    root = tmp_path_factory.mktemp("dev")
    home = root / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / ".dagster" / "dagster.yaml", home / "dagster.yaml")
    port = free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "DAGSTER_HOME": str(home),
        "TAXI_DATA_DIR": str(root / "data"),
        "TAXI_PROFILE": "local",
    }
    log = root / "dev.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [str(REPO / "scripts" / "dev")],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_reset_signals,
        )
    server = DevServer(url=f"http://127.0.0.1:{port}", process=process, log=log)
    try:
        wait_until_loaded(server)
        yield server
    finally:
        survivors = stop_group(process)
    assert not survivors, f"scripts/dev left processes behind: {survivors}"


def chromium(url: str, profile_dir: Path, *args: str, timeout: float = 60) -> str:
    """Run headless Chromium on `url` in its own process group; returns stdout."""
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium; .ci/run does) "
            "or set CHROMIUM to a Chrome/Chromium binary"
        )
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--disable-dev-shm-usage",
        "--no-proxy-server",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile_dir}",
        "--virtual-time-budget=15000",
        *args,
        url,
    ]
    process = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"chromium did not finish within {timeout}s on {url}")
    finally:
        survivors = stop_group(process, grace_seconds=2)
        assert not survivors, f"chromium left processes behind: {survivors}"
    stderr = err.decode(errors="replace")[-3000:]
    assert process.returncode == 0, f"chromium exited with {process.returncode}:\n{stderr}"
    return out.decode(errors="replace")


@pytest.mark.timeout(180)
def test_graphql_lists_the_five_partitioned_assets(dev_server: DevServer):
    nodes = {tuple(node["assetKey"]["path"]): node for node in dev_server.graphql(ASSETS_QUERY)["assetNodes"]}

    assert {(name,) for name in ASSETS} <= set(nodes), f"assets in the UI: {sorted(nodes)}"
    for name in ASSETS:
        partitions = nodes[(name,)]["partitionDefinition"]
        assert partitions, f"{name} is not partitioned"
        assert partitions["type"] == "MULTIPARTITIONED", (name, partitions)
        dimensions = {dim["name"]: dim["type"] for dim in partitions["dimensionTypes"]}
        assert dimensions == {"color": "STATIC", "month": "TIME_WINDOW"}, (name, dimensions)
        keys = {dim["name"]: dim["partitionKeys"] for dim in nodes[(name,)]["partitionKeysByDimension"]}
        assert sorted(keys["color"]) == sorted(COLORS), (name, keys["color"])
        assert keys["month"], f"{name} has no month partitions"


@pytest.mark.timeout(180)
def test_ui_renders_the_asset_catalog(dev_server: DevServer, tmp_path: Path):
    url = dev_server.url + "/assets"
    shell = dev_server.get("/assets")
    assert not any(name in shell for name in ASSETS), "the HTML shell already names assets; DOM check proves nothing"

    dom = chromium(url, tmp_path / "profile-dom", "--dump-dom")
    missing = [name for name in ASSETS if name not in dom]
    assert not missing, f"rendered /assets lacks {missing}; DOM starts:\n{dom[:2000]}"
    assert "taxi_platform" in dom, "rendered /assets does not show the code location"

    screenshot = tmp_path / "ui.png"
    chromium(
        url, tmp_path / "profile-shot", f"--screenshot={screenshot}", "--window-size=1400,900", "--hide-scrollbars"
    )
    png = screenshot.read_bytes() if screenshot.exists() else b""
    assert png.startswith(b"\x89PNG\r\n\x1a\n"), f"no PNG screenshot at {screenshot}"
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert (width, height) == (1400, 900), (width, height)
    # A blank or shell-only page compresses to a few KB; the rendered catalog is ~100 KB.
    assert len(png) > 30_000, f"screenshot {screenshot} is only {len(png)} bytes"
