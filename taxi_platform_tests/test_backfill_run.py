"""`python -m taxi_platform.backfill` end to end: taxi_zones is materialized first on an instance that never had it."""

from __future__ import annotations

import subprocess
import sys

import duckdb
from dagster import AssetKey, DagsterInstance

from taxi_platform_tests.support.cli import dagster_home, user_env
from taxi_platform_tests.support.data import REPO


def backfill(env: dict[str, str], *partitions: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "taxi_platform.backfill", *partitions, "--workers", "1"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def zone_runs(home) -> list[str]:
    with DagsterInstance.from_config(str(home)) as instance:
        records = instance.fetch_materializations(AssetKey("taxi_zones"), limit=10).records
        return [record.run_id for record in records]


def test_a_backfill_on_a_new_instance_materializes_the_zones_first_and_only_once(tmp_path, mirror):
    home = dagster_home(tmp_path / "dagster_home")
    env = user_env(
        DAGSTER_HOME=home, TAXI_DATA_DIR=tmp_path / "data", TAXI_SOURCE_URL=mirror.url, TAXI_TLC_URL=mirror.url
    )

    done = backfill(env, "green:2021-01")
    assert done.returncode == 0, done.stderr[-5000:]
    assert "taxi_zones: ok" in done.stdout and "green:2021-01: ok" in done.stdout, done.stdout
    [zones_run] = zone_runs(home)
    with DagsterInstance.from_config(str(home)) as instance:
        runs = sorted(instance.get_runs(), key=lambda run: instance.get_run_record_by_id(run.run_id).create_timestamp)
    assert runs[0].run_id == zones_run and runs[1].job_name == "trip_chain", "the zones came first"
    with duckdb.connect(str(tmp_path / "data/warehouse.duckdb"), read_only=True) as db:
        assert db.execute("SELECT DISTINCT zone FROM revenue WHERE revenue_zone = 74").fetchall() == [
            ("East Harlem North",)
        ]

    again = backfill(env, "yellow:2021-01")
    assert again.returncode == 0, again.stderr[-5000:]
    assert "taxi_zones" not in again.stdout and "yellow:2021-01: ok" in again.stdout, again.stdout
    assert zone_runs(home) == [zones_run], "a materialized zone lookup is not redone"
