"""The start command works: `scripts/dev` serves the UI, which lists the five partitioned assets.

Starts the real `scripts/dev` on a free loopback port with a throwaway DAGSTER_HOME and data folder,
asks its GraphQL API for the asset nodes, then renders the asset catalog in headless Chromium
(Debian's `chromium`; CI installs it) to prove the JavaScript app really shows them.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from taxi_platform.tlc.months import COLORS, TripMonth
from taxi_platform_tests.support.cli import dagster_home, materialize_zones_cli, user_env
from taxi_platform_tests.support.data import GREEN_CSV, REPO
from taxi_platform_tests.support.dev_server import ASSETS, ASSETS_QUERY, DevServer, running_dev
from taxi_platform_tests.support.keys import key, run_tags
from taxi_platform_tests.support.mirror import MirrorServer, Scripted
from taxi_platform_tests.support.months import damaged_month
from taxi_platform_tests.support.oracle import duckdb_revenue, trips_in
from taxi_platform_tests.support.processes import stop_group

# Debian's chromium by default; elsewhere (macOS) point CHROMIUM at a Chrome/Chromium binary.
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="module")
def dev_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The platform's folders for this module's `scripts/dev`: data/ and landing/green/."""
    root = tmp_path_factory.mktemp("dev")
    (root / "landing" / "green").mkdir(parents=True)
    return root


@pytest.fixture(scope="module")
def dev_server(dev_root: Path, mirror_server: MirrorServer) -> Iterator[DevServer]:
    env = user_env(
        DAGSTER_HOME=dagster_home(dev_root / "dagster_home"),
        TAXI_DATA_DIR=dev_root / "data",
        TAXI_PROFILE="local",
        TAXI_SOURCE_URL=mirror_server.url,
        TAXI_TLC_URL=mirror_server.url,
        TAXI_LANDING_DIR=dev_root / "landing",
    )
    materialize_zones_cli(env)  # once, as a user does before the first month's report
    with running_dev(env, dev_root) as server:
        yield server


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

    # What the page shows is judged above, from its DOM; the picture is for people (artifacts/ui/).
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    screenshot = ARTIFACTS / "asset-catalog.png"
    chromium(
        url, tmp_path / "profile-shot", f"--screenshot={screenshot}", "--window-size=1400,900", "--hide-scrollbars"
    )
    png = screenshot.read_bytes() if screenshot.exists() else b""
    assert png.startswith(b"\x89PNG\r\n\x1a\n"), f"no PNG screenshot at {screenshot}"
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert (width, height) == (1400, 900), (width, height)


# --- Keeping current without a click: the daemon, the landing sensor, a backfill, the checks in the UI ---

LOCATION = {"repositoryLocationName": "taxi_platform", "repositoryName": "__repository__"}
ARTIFACTS = REPO / "artifacts" / "ui"
RUN_WAIT_SECONDS = 420  # a wait limit on a loaded 2-core machine, not a performance claim

START_SENSOR = """
mutation($selector: SensorSelector!) { startSensor(sensorSelector: $selector) {
    __typename ... on Sensor { sensorState { status } } ... on PythonError { message }
} }
"""
MATERIALIZATIONS = """
query($path: [String!]!, $partitions: [String!]) { assetNodeOrError(assetKey: {path: $path}) {
    ... on AssetNode { assetMaterializations(partitions: $partitions) {
        runId partition
        metadataEntries { label __typename
            ... on TextMetadataEntry { text } ... on IntMetadataEntry { intValue } ... on UrlMetadataEntry { url }
            ... on BoolMetadataEntry { boolValue }
        }
    } }
} }
"""
CHECK_EXECUTIONS = """
query($path: [String!]!, $check: String!, $partition: String) {
    assetCheckExecutions(assetKey: {path: $path}, checkName: $check, partition: $partition, limit: 5) {
        runId partition status evaluation { success severity }
    }
}
"""
CHECKS_OF_ASSETS = """
{ assetNodes { assetKey { path } assetChecksOrError { ... on AssetChecks { checks { name } } } } }
"""
SENSOR_CURSOR = """
query($selector: SensorSelector!) { sensorOrError(sensorSelector: $selector) {
    ... on Sensor { sensorState { typeSpecificData { ... on SensorData { lastCursor } } } }
} }
"""
LAUNCH_BACKFILL = """
mutation($params: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $params) {
    __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message }
    ... on InvalidSubsetError { message } ... on PartitionSetNotFoundError { message }
} }
"""
BACKFILL_STATUS = """
query($id: String!) { partitionBackfillOrError(backfillId: $id) { ... on PartitionBackfill { status } } }
"""
RUNS_TAGGED = """
query($key: String!, $value: String!) { runsOrError(filter: {tags: [{key: $key, value: $value}]}) {
    ... on Runs { results { runId status jobName tags { key value } } }
} }
"""


def wait_for(server: DevServer, what: str, ready, seconds: float = RUN_WAIT_SECONDS):
    """Poll `ready()` until it returns something truthy; fail with the server log if it never does."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = ready()
        if value:
            return value
        time.sleep(2)
    pytest.fail(f"{what}: not within {seconds}s\n{server.log_tail()}")


def materializations(server: DevServer, asset: str, partitions: list[str]) -> list[dict]:
    node = server.graphql(MATERIALIZATIONS, path=[asset], partitions=partitions)["assetNodeOrError"]
    return node.get("assetMaterializations") or []


def metadata(event: dict) -> dict[str, object]:
    values = ("text", "intValue", "url", "boolValue")
    return {e["label"]: next((e[v] for v in values if v in e), None) for e in event["metadataEntries"]}


def check_names(server: DevServer) -> dict[str, list[str]]:
    nodes = server.graphql(CHECKS_OF_ASSETS)["assetNodes"]
    return {n["assetKey"]["path"][-1]: [c["name"] for c in n["assetChecksOrError"].get("checks", [])] for n in nodes}


def latest_check_results(server: DevServer, partition: str) -> dict[tuple[str, str], dict]:
    results = {}
    for asset, names in check_names(server).items():
        for name in names:
            runs = server.graphql(CHECK_EXECUTIONS, path=[asset], check=name, partition=partition)
            results[(asset, name)] = (runs["assetCheckExecutions"] or [None])[0]
    return results


@pytest.mark.timeout(RUN_WAIT_SECONDS + 120)
def test_dropped_file_reaches_the_warehouse_without_a_click(dev_server: DevServer, dev_root: Path, mirror_root: Path):
    """The daemon's landing sensor sees a new file and one run takes it through all five stages."""
    started = dev_server.graphql(START_SENSOR, selector={**LOCATION, "sensorName": "landing_files_sensor"})
    assert started["startSensor"]["sensorState"]["status"] == "RUNNING", started

    source = mirror_root / "green/green_tripdata_2021-02.csv.gz"  # a generated month (conftest)
    landed = dev_root / "landing" / "green" / source.name
    shutil.copyfile(source, landed.with_name(f".{landed.name}.part"))
    os.replace(landed.with_name(f".{landed.name}.part"), landed)

    partition = key("green", "2021-02")
    [loaded] = wait_for(
        dev_server,
        f"bigquery_revenue {partition}",
        lambda: materializations(dev_server, "bigquery_revenue", [partition]),
    )
    runs = {materializations(dev_server, asset, [partition])[0]["runId"] for asset in ASSETS}
    assert runs == {loaded["runId"]}, "one run took the partition through all five stages"
    [run] = [
        r for r in dev_server.graphql(RUNS_TAGGED, key="dagster/partition", value=partition)["runsOrError"]["results"]
    ]
    tags = {t["key"]: t["value"] for t in run["tags"]}
    assert (run["jobName"], tags["dagster/sensor_name"]) == ("trip_chain", "landing_files_sensor")
    assert tags["taxi_platform/landed_file"] == landed.as_uri()
    raw = metadata(materializations(dev_server, "raw_trips", [partition])[0])
    assert raw["source_url"] == landed.as_uri(), "raw_trips read the landed file"

    # The warehouse slice holds the course's numbers for the landed file (independent DuckDB oracle).
    oracle = duckdb_revenue(landed, "green", "2021-02")
    with duckdb.connect(str(dev_root / "data" / "warehouse.duckdb"), read_only=True) as db:
        zones = db.execute(
            "SELECT revenue_zone, revenue_monthly_total_amount FROM revenue "
            "WHERE service_type = 'green' AND revenue_month = DATE '2021-02-01' ORDER BY revenue_zone"
        ).fetchall()
    assert [z for z, _ in zones] == [row["revenue_zone"] for row in oracle]
    for (_, total), row in zip(zones, oracle, strict=True):
        assert math.isclose(total, row["revenue_monthly_total_amount"], rel_tol=1e-9)
    assert metadata(loaded)["dagster/row_count"] == len(oracle)

    # The cursor lives in the instance's storage, where a restarted daemon reads it back.
    state = dev_server.graphql(SENSOR_CURSOR, selector={**LOCATION, "sensorName": "landing_files_sensor"})
    cursor = json.loads(state["sensorOrError"]["sensorState"]["typeSpecificData"]["lastCursor"])
    assert cursor["handled_at_version"] == ["green/" + landed.name]

    # Every check of every asset ran on this partition and passed; the UI's API says so.
    results = latest_check_results(dev_server, partition)
    assert len(results) >= 8, results
    failed = {key: value for key, value in results.items() if not (value and value["evaluation"]["success"])}
    assert not failed, failed
    assert {value["partition"] for value in results.values()} == {partition}


def run_asset_backfill(dev_server: DevServer, partitions: list[str]) -> tuple[str, str]:
    """Launch an asset backfill of the trip assets as the asset page does; its id and final status."""
    launched = dev_server.graphql(
        LAUNCH_BACKFILL,
        params={"partitionNames": partitions, "assetSelection": [{"path": [a]} for a in ASSETS]},
    )["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    backfill = launched["backfillId"]

    def finished():
        status = dev_server.graphql(BACKFILL_STATUS, id=backfill)["partitionBackfillOrError"]["status"]
        return status if status not in ("REQUESTED", "CANCELING", "FAILING") else None

    return backfill, wait_for(dev_server, f"backfill {backfill}", finished)


@pytest.mark.timeout(2 * RUN_WAIT_SECONDS + 120)
def test_backfill_of_three_green_months_and_a_yellow_one_costs_one_run_and_one_spark_session_per_color(
    dev_server: DevServer,
):
    """The assets' `BackfillPolicy.single_run()`: the daemon makes one ranged run per color (Dagster builds
    ranges with one dimension fixed), and each partition still gets its own materializations and metadata."""
    green = [key("green", month) for month in ("2021-01", "2021-02", "2021-03")]
    partitions = [*green, key("yellow", "2021-01")]
    backfill, status = run_asset_backfill(dev_server, partitions)
    assert status in ("COMPLETED", "COMPLETED_SUCCESS")
    runs = dev_server.graphql(RUNS_TAGGED, key="dagster/backfill", value=backfill)["runsOrError"]["results"]
    assert {r["status"] for r in runs} == {"SUCCESS"}
    run_ids = {r["runId"] for r in runs}

    sessions: dict[str, set[str]] = {}
    for asset in ("typed_trips", "revenue_report"):
        for event in materializations(dev_server, asset, partitions):
            # A month an earlier test made and that did not change is kept, with the session that made it.
            if event["runId"] in run_ids and not metadata(event).get("unchanged"):
                sessions.setdefault(event["runId"], set()).add(metadata(event)["spark_application_id"])
    applications = set().union(*sessions.values())
    print(f"backfill {backfill}: {len(partitions)} partitions, {len(runs)} runs, {len(applications)} Spark sessions")
    assert len(runs) == 2, "one ranged run per color, each over the whole chain"
    assert all(len(apps) == 1 for apps in sessions.values()), f"the Spark steps of a run share a session: {sessions}"
    assert len(applications) == len(runs), "one Spark session per run, not one per step or month"
    for asset in ASSETS:
        for partition in partitions:
            [event] = [e for e in materializations(dev_server, asset, [partition]) if e["runId"] in run_ids]
            color, month = partition.split("|")
            folder = f"{color}/{month[:4]}/{month[5:7]}"
            shown = metadata(event)
            assert any(folder in str(value) for value in shown.values()), f"{asset} {partition}: its own metadata"
            assert shown["dagster/row_count"], (asset, partition)


BACKFILL_COUNTS = """
query($id: String!) { partitionBackfillOrError(backfillId: $id) { ... on PartitionBackfill { status
    assetBackfillData { assetBackfillStatuses { ... on AssetPartitionsStatusCounts {
        assetKey { path } numPartitionsTargeted numPartitionsMaterialized numPartitionsFailed
} } } } } }
"""


@pytest.mark.timeout(RUN_WAIT_SECONDS + 120)
def test_a_backfill_with_a_broken_month_keeps_its_good_neighbours_and_names_it(
    dev_server: DevServer, mirror_server: MirrorServer
):
    """The daemon's view of a ranged run where one month fails: the good months count as materialized
    (their explicit materializations), the broken one and everything below the failed step as failed."""
    partitions = [key("green", month) for month in ("2021-01", "2021-02", "2021-03")]
    remote = TripMonth.parse("green", "2021-02").published_name()
    whole = (mirror_server.root / "green" / remote).read_bytes()
    broken = whole[: len(whole) // 2]
    # The source republishes the month (a new ETag; an earlier test may have materialized it) as a cut file.
    mirror_server.script(
        f"green/{remote}", Scripted(200, content_length=len(broken), headers={"ETag": '"cut"'}), method="HEAD"
    )
    mirror_server.script(f"green/{remote}", Scripted(200, broken))
    try:
        backfill, status = run_asset_backfill(dev_server, partitions)
        assert status in ("COMPLETED_FAILED", "FAILED")
    finally:
        mirror_server.reset()
    [run] = dev_server.graphql(RUNS_TAGGED, key="dagster/backfill", value=backfill)["runsOrError"]["results"]
    assert run["status"] == "FAILURE"
    failure = dev_server.graphql(RUN_FAILURE, runId=run["runId"])["runOrError"]["eventConnection"]["events"]
    [step] = [e for e in failure if e["__typename"] == "ExecutionStepFailureEvent"]
    first_line = step["error"]["message"].splitlines()[0]
    assert step["stepKey"] == "raw_trips" and "raw_trips: 1 of 3 months failed: green 2021-02: " in first_line

    data = dev_server.graphql(BACKFILL_COUNTS, id=backfill)["partitionBackfillOrError"]["assetBackfillData"]
    counts = {
        status["assetKey"]["path"][-1]: tuple(
            status[f"numPartitions{count}"] for count in ("Targeted", "Materialized", "Failed")
        )
        for status in data["assetBackfillStatuses"]
    }
    print(f"backfill {backfill}: {counts}")
    assert counts["raw_trips"] == (3, 2, 1), counts
    assert all(counts[asset] == (3, 0, 3) for asset in ASSETS[1:]), counts
    for month, partition in zip(("01", "02", "03"), partitions, strict=True):
        ours = [e for e in materializations(dev_server, "raw_trips", [partition]) if e["runId"] == run["runId"]]
        assert len(ours) == (0 if month == "02" else 1), partition
        if ours:
            assert f"green/2021/{month}" in str(metadata(ours[0])["uri"])


LAUNCH_RUN = """
mutation($params: ExecutionParams!) { launchRun(executionParams: $params) {
    __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
} }
"""
RUN_FAILURE = """
query($runId: ID!) { runOrError(runId: $runId) { ... on Run { status eventConnection { events {
    __typename ... on ExecutionStepFailureEvent { stepKey error { message } } ... on RunFailureEvent { message }
} } } } }
"""


@pytest.mark.timeout(RUN_WAIT_SECONDS + 120)
def test_a_failed_run_says_which_partition_which_file_and_what(dev_server: DevServer, dev_root: Path, tmp_path: Path):
    """A month republished with 5 % malformed lines fails its audit; the UI's failure names it all."""
    month = TripMonth.parse("green", "2020-06")
    source = tmp_path / "source"
    damaged = damaged_month(GREEN_CSV, source / "green" / month.remote_name, every=20)
    launched = dev_server.graphql(LAUNCH_RUN, params={
        "selector": {**LOCATION, "jobName": "trip_chain"},
        "runConfigData": {"resources": {"trip_source": {"config": {"base_url": source.as_uri()}}}},
        "executionMetadata": {"tags": run_tags(month.color, month.yyyy_mm)},
    })["launchRun"]  # fmt: skip
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]

    def failed():
        run = dev_server.graphql(RUN_FAILURE, runId=run_id)["runOrError"]
        return run if run["status"] in ("FAILURE", "SUCCESS", "CANCELED") else None

    run = wait_for(dev_server, f"run {run_id}", failed)
    assert run["status"] == "FAILURE"
    events = run["eventConnection"]["events"]
    [step] = [e for e in events if e["__typename"] == "ExecutionStepFailureEvent"]
    first_line = step["error"]["message"].splitlines()[0]
    raw = dev_root / "data" / month.raw_path
    assert step["stepKey"] == "typed_trips"
    assert month.label in first_line and str(raw) in first_line, first_line
    assert f"{len(damaged)} of {trips_in(GREEN_CSV)} data lines could not be parsed" in first_line, first_line
    assert f"first: line {damaged[0]}: " in first_line, first_line
    assert any(e["__typename"] == "RunFailureEvent" for e in events)


@pytest.mark.timeout(180)
def test_asset_graph_screenshot_shows_the_chain(dev_server: DevServer, tmp_path: Path):
    """Headless Chromium renders the asset graph; the PNG is left in artifacts/ui/ for people to look at."""
    # The lineage of the last asset, all the way up: the five assets with their checks and partitions filled.
    url = dev_server.url + "/assets/bigquery_revenue?view=lineage&lineageScope=upstream&lineageDepth=5"
    dom = chromium(url, tmp_path / "profile-dom", "--dump-dom")
    missing = [name for name in ASSETS if name not in dom]
    assert not missing, f"rendered asset graph lacks {missing}; DOM starts:\n{dom[:2000]}"

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    screenshot = ARTIFACTS / "asset-graph.png"
    screenshot.unlink(missing_ok=True)
    chromium(
        url, tmp_path / "profile-shot", f"--screenshot={screenshot}", "--window-size=1600,1000", "--hide-scrollbars"
    )
    png = screenshot.read_bytes() if screenshot.exists() else b""
    assert png.startswith(b"\x89PNG\r\n\x1a\n"), f"no PNG screenshot at {screenshot}"
    print(f"asset graph screenshot: {screenshot}")
