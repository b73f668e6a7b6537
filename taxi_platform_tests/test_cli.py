"""`dagster asset materialize` from the command line, as a user runs it, against the loopback mirror."""

from __future__ import annotations

import duckdb
import pyarrow.parquet as pq

from taxi_platform_tests.support.cli import (
    dagster_home,
    latest_metadata,
    materialize_cli,
    materialize_zones_cli,
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


def test_cli_takes_each_month_from_the_source_that_publishes_it_through_all_assets(tmp_path, mirror):
    """Both sources configured: every month through the five assets, each report equal to the course SQL."""
    home = dagster_home(tmp_path / "dagster_home")
    data = tmp_path / "data"
    env = user_env(DAGSTER_HOME=home, TAXI_DATA_DIR=data, TAXI_SOURCE_URL=mirror.url, TAXI_TLC_URL=mirror.url)
    materialize_zones_cli(env)
    for partition in MONTHS:
        logged = materialize_cli(env, "raw_trips*", partition)
        # The JVM starts as the run starts, while raw_trips downloads, not when typed_trips first needs it.
        assert logged.index("Starting Spark session") < logged.index("raw_trips - STEP_START"), partition

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
