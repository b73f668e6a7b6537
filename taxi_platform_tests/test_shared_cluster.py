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
spark = SparkResource(master=sys.argv[1], master_ui_url=sys.argv[2], executor_wait_seconds=5,
                      spark_config={"spark.ui.enabled": "false"}, start_early=False)
session = spark.spark_session
print(spark.application["spark_cores_max"], flush=True)
session.range(4).rdd.map(lambda x: time.sleep(2) or x).collect()
spark.teardown_after_execution(None)
"""


def test_two_applications_each_take_one_of_two_cores(standalone_cluster):
    ui = f"http://127.0.0.1:{standalone_cluster.master_ui}"
    runs = [
        subprocess.Popen([sys.executable, "-c", _RUN, standalone_cluster.master_url, ui], cwd=REPO,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]  # fmt: skip
    for run in runs:
        out, err = run.communicate(timeout=300)
        assert run.returncode == 0, err[-3000:]
        assert out.strip() == "1"
    apps = standalone_cluster.master_state()["completedapps"]
    assert len(apps) == 2
    assert [app["cores"] for app in apps] == [1, 1]


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
