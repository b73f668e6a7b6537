"""`dagster asset materialize` from the command line, as a user runs it, against the loopback mirror."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow.parquet as pq
from dagster import AssetKey, DagsterInstance

from taxi_platform_tests.support.cli import (
    dagster_home,
    failure_shown,
    latest_metadata,
    materialize_cli,
    materialize_zones_cli,
    run_materialize,
    user_env,
)
from taxi_platform_tests.support.data import GREEN_CSV, GREEN_PARQUET
from taxi_platform_tests.support.dev_server import ASSETS
from taxi_platform_tests.support.oracle import assert_same_report, course_csv, duckdb_revenue, with_zone_names

# Typed as a user types them after --partition (the form the docs show), so they stay literal here: the first two
# months from the course's release (CSV), the third only the TLC feed publishes (parquet).
MONTHS = {
    "green|2021-01-01": ("release", "csv.gz", GREEN_CSV),
    "yellow|2021-01-01": ("release", "csv.gz", None),
    "green|2024-01-01": ("tlc", "parquet", GREEN_PARQUET),
}
# Ranges as a user types them after --partition-range: one color each, so one run per color.
GREEN_RANGE = "green|2021-01-01...green|2021-01-01"
YELLOW_RANGE = "yellow|2021-01-01...yellow|2021-01-01"


def test_cli_takes_each_month_from_the_source_that_publishes_it_through_all_assets(tmp_path, mirror):
    """Both sources configured: every month through the five assets, each report equal to the course SQL."""
    home = dagster_home(tmp_path / "dagster_home")
    data = tmp_path / "data"
    env = user_env(DAGSTER_HOME=home, TAXI_DATA_DIR=data, TAXI_SOURCE_URL=mirror.url, TAXI_TLC_URL=mirror.url)
    materialize_zones_cli(env)
    for partition in MONTHS:
        logged = materialize_cli(env, "raw_trips*", partition)
        # The JVM starts when typed_trips has sized its work: for a small month it compiles with C1 only.
        assert logged.index("raw_trips - STEP_SUCCESS") < logged.index("Starting Spark session"), partition
        assert "(C1 only, for " in logged, partition

    for partition, (source, file_format, published) in MONTHS.items():
        color, month = partition.split("|")[0], partition.split("|")[1][:7]
        for asset in ASSETS:
            assert latest_metadata(home, asset, partition), (asset, partition)
        raw = latest_metadata(home, "raw_trips", partition)
        assert (raw["source"].value, raw["format"].value) == (source, file_format), partition
        assert raw["source_url"].value.endswith(f"{color}_tripdata_{month}.{file_format}"), raw["source_url"]
        expected = with_zone_names(duckdb_revenue(published or course_csv(color, tmp_path), color, month))
        report = data / "bucket/report/revenue" / color / month.replace("-", "/")
        assert_same_report(pq.read_table(str(report.resolve())).to_pylist(), expected)
        with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as db:
            loaded = db.execute(
                "SELECT * FROM revenue WHERE strftime(revenue_month, '%Y-%m') = ? AND service_type = ?", [month, color]
            )
            names = [d[0] for d in loaded.description]
            rows = [dict(zip(names, row, strict=True)) for row in loaded.fetchall()]
        assert_same_report([{k: row[k] for k in expected[0]} for row in rows], expected)


def zones_runs(home: Path) -> list[str]:
    """The runs that materialized taxi_zones, as the instance recorded them."""
    with DagsterInstance.from_config(str(home)) as instance:
        return [record.run_id for record in instance.fetch_materializations(AssetKey("taxi_zones"), limit=10).records]


def test_a_ranged_run_on_a_new_instance_needs_taxi_zones_materialized_once_first(tmp_path, mirror):
    """A backfill from a terminal (`--partition-range`, as `dg launch` takes it too) on an instance that never had
    the zones: `'*'` cannot take them along, a range without them names them; after `--select taxi_zones` once, each
    color's ranged run succeeds, its report names its zones, and the zones are not materialized again."""
    home = dagster_home(tmp_path / "dagster_home")
    data = tmp_path / "data"
    env = user_env(DAGSTER_HOME=home, TAXI_DATA_DIR=data, TAXI_SOURCE_URL=mirror.url, TAXI_TLC_URL=mirror.url)

    everything = run_materialize(env, "*", None, partition_range=GREEN_RANGE)
    assert everything.returncode != 0, everything.stderr[-5000:]
    assert "require all selected assets to have a BackfillPolicy.single_run()" in everything.stderr

    without_zones = run_materialize(env, "raw_trips*", None, partition_range=GREEN_RANGE)
    assert without_zones.returncode != 0
    first_line = failure_shown(without_zones.stderr, "RUN_FAILURE")[0]
    assert "green 2021-01" in first_line and "materialize taxi_zones first" in first_line, first_line
    assert zones_runs(home) == []

    materialize_zones_cli(env)
    [zones_run] = zones_runs(home)
    for partition_range in (GREEN_RANGE, YELLOW_RANGE):
        materialize_cli(env, "raw_trips*", None, partition_range=partition_range)
    assert zones_runs(home) == [zones_run], "a ranged run leaves the published zones alone"
    # The green range again: every asset was materialized for it before, so the run starts no JVM early (and, with
    # nothing changed, none at all).
    again = materialize_cli(env, "raw_trips*", None, partition_range=GREEN_RANGE)
    assert "Starting Spark session" not in again, again[-3000:]
    with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as db:
        named = db.execute("SELECT DISTINCT service_type, zone FROM revenue WHERE revenue_zone = 74 ORDER BY 1")
        assert named.fetchall() == [("green", "East Harlem North"), ("yellow", "East Harlem North")]
