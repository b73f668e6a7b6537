"""Two runs share one standalone cluster: each application takes its share of the worker's cores."""

from __future__ import annotations

import json
import subprocess
import sys

import duckdb

from taxi_platform.tlc import TripMonth
from taxi_platform_tests.support.cli import dagster_home, materialize_command, user_env
from taxi_platform_tests.support.data import REPO
from taxi_platform_tests.support.mirror import MirrorServer
from taxi_platform_tests.support.months import mirror_folder
from taxi_platform_tests.support.oracle import assert_same_report, duckdb_revenue, with_zone_names

# One process per run (one SparkContext each, as two Dagster runs have): a session, then work that
# outlasts the other's executor_wait_seconds, so the second only succeeds if the first left it a core.
_RUN = """
import sys, time
from taxi_platform.resources import SparkResource
spark = SparkResource(master=sys.argv[1], master_ui_url=sys.argv[2], executor_wait_seconds=10,
                      spark_config={"spark.ui.enabled": "false"}, start_early=False)
session = spark.spark_session
print(spark.application["spark_cores_max"], flush=True)
session.range(6).rdd.map(lambda x: time.sleep(2) or x).collect()  # 12 s on its one core: more than the wait
spark.teardown_after_execution(None)
"""


def finished_applications(cluster) -> dict[str, dict]:
    """The cluster's finished applications, by id."""
    return {app["id"]: app for app in cluster.master_state()["completedapps"]}


def test_two_applications_each_take_one_of_two_cores(standalone_cluster):
    ui = f"http://127.0.0.1:{standalone_cluster.master_ui}"
    before = finished_applications(standalone_cluster)
    runs = [
        subprocess.Popen([sys.executable, "-c", _RUN, standalone_cluster.master_url, ui], cwd=REPO,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]  # fmt: skip
    for run in runs:
        out, err = run.communicate(timeout=300)
        assert run.returncode == 0, err[-3000:]
        assert out.strip() == "1"
    apps = [app for key, app in finished_applications(standalone_cluster).items() if key not in before]
    assert len(apps) == 2
    assert [app["cores"] for app in apps] == [1, 1]


# Holds both of the worker's cores until its standard input closes.
_HOLD = """
import sys
from taxi_platform.resources import SparkResource
spark = SparkResource(master=sys.argv[1], master_ui_url=sys.argv[2], cores_max=2,
                      spark_config={"spark.ui.enabled": "false"}, start_early=False)
print(spark.spark_session.sparkContext.applicationId, flush=True)
sys.stdin.read()
spark.teardown_after_execution(None)
"""
_WAIT = """
import logging, sys
from dagster import Failure
from taxi_platform.resources import SparkResource
spark = SparkResource(master=sys.argv[1], master_ui_url=sys.argv[2], executor_wait_seconds=3, cores_max=1,
                      spark_config={"spark.ui.enabled": "false"}, start_early=False)
logging.basicConfig(level=logging.INFO)
try:
    spark.spark_session
except Failure as failure:
    print(failure.description, flush=True)
    sys.exit(3)
"""


def test_a_run_left_without_cores_fails_after_executor_wait_seconds(standalone_cluster):
    """Standalone would let an application wait for cores forever; ours says why it waits, then gives up."""
    ui = f"http://127.0.0.1:{standalone_cluster.master_ui}"
    args = [standalone_cluster.master_url, ui]
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, *args], cwd=REPO, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        held = holder.stdout.readline().strip()
        assert held.startswith("app-"), holder.stderr.read()[-3000:]
        waiting = subprocess.run([sys.executable, "-c", _WAIT, *args], cwd=REPO, capture_output=True, text=True,
                                 timeout=120)  # fmt: skip
    finally:
        holder.communicate("", timeout=120)
    assert waiting.returncode == 3, waiting.stderr[-3000:]
    assert (
        waiting.stdout.startswith("Spark application app-")
        and f"got no executor from {standalone_cluster.master_url} within 3s" in waiting.stdout
    )
    assert "2 of 2 cores in use by other applications" in waiting.stderr, waiting.stderr[-3000:]
    assert holder.returncode == 0
    finished = finished_applications(standalone_cluster)
    [gave_up] = [app for key, app in finished.items() if key != held and key in waiting.stdout]
    assert gave_up["cores"] == 0, "it never ran on the cluster"
    assert held in finished and not standalone_cluster.master_state()["activeapps"], "neither is left behind"


# Long enough for an executor's JVM to start on a busy 2-core machine; shorter than each run's application.
WAIT_SECONDS = 15


def test_a_green_and_a_yellow_ranged_run_at_once_share_a_two_core_worker(standalone_cluster, tmp_path):
    """What a backfill of both colors is: two ranged runs at once, each outlasting `executor_wait_seconds`."""
    months = [TripMonth.parse(color, f"2021-0{number}") for color in ("green", "yellow") for number in (1, 2)]
    served = mirror_folder(tmp_path / "mirror", dict.fromkeys(months, 20_000))
    server = MirrorServer(tmp_path / "mirror").start()
    config = tmp_path / "run_config.yaml"
    # The test master's UI is on a free port, not 8080; WAIT_SECONDS of waiting fail a run left without cores. Run
    # config replaces the resource's settings, so it names the master again.
    settings = {
        "master": standalone_cluster.master_url,
        "master_ui_url": f"http://127.0.0.1:{standalone_cluster.master_ui}",
        "executor_wait_seconds": WAIT_SECONDS,
        "spark_config": {"spark.ui.enabled": "false"},
    }
    config.write_text(json.dumps({"resources": {"spark": {"config": settings}}}))
    env = user_env(
        TAXI_PROFILE="standalone", TAXI_SPARK_MASTER=standalone_cluster.master_url, TAXI_SOURCE_URL=server.url,
        TAXI_TLC_URL=server.url, TAXI_DATA_DIR=tmp_path / "data", DAGSTER_HOME=dagster_home(tmp_path / "home"),
    )  # fmt: skip
    try:
        zones = subprocess.run(materialize_command("taxi_zones", config=config), cwd=REPO, env=env,
                               capture_output=True, text=True, timeout=300)  # fmt: skip
        assert zones.returncode == 0, zones.stderr[-3000:]
        ranged = {color: f"{color}|2021-01-01...{color}|2021-02-01" for color in ("green", "yellow")}
        runs = {
            color: subprocess.Popen(
                materialize_command("raw_trips*", partition_range=months, config=config),
                cwd=REPO,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for color, months in ranged.items()
        }
        for color, run in runs.items():
            _, err = run.communicate(timeout=900)
            assert run.returncode == 0 and "RUN_SUCCESS" in err, (color, err[-5000:])
    finally:
        server.stop()

    apps = standalone_cluster.master_state()["completedapps"][-2:]
    assert [app["cores"] for app in apps] == [1, 1], "each run took its share of the two cores"
    (first, second) = sorted(apps, key=lambda app: app["starttime"])
    assert second["starttime"] < first["starttime"] + first["duration"], "the two runs ran at once"
    assert min(app["duration"] for app in apps) > WAIT_SECONDS * 1000, "each outlasted executor_wait_seconds"
    with duckdb.connect(str(tmp_path / "data/warehouse.duckdb"), read_only=True) as db:
        for month, source in served.items():
            cursor = db.execute(
                "SELECT * FROM revenue WHERE service_type = ? AND revenue_month = ?", [month.color, month.month]
            )
            names = [column[0] for column in cursor.description]
            ours = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
            assert_same_report(ours, with_zone_names(duckdb_revenue(source, month.color, month.yyyy_mm)))
