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
from taxi_platform_tests.support.oracle import assert_same_report, duckdb_revenue, with_zone_names

# Typed as a user types them after --partition (the form the docs show), so they stay literal here.
PARTITIONS = ("green|2021-01-01", "yellow|2021-01-01")


def test_cli_materializes_all_five_assets(tmp_path, mirror):
    home = dagster_home(tmp_path / "dagster_home")
    env = user_env(
        DAGSTER_HOME=home, TAXI_DATA_DIR=tmp_path / "data", TAXI_SOURCE_URL=mirror.url, TAXI_TLC_URL=mirror.url
    )
    materialize_zones_cli(env)
    for partition in PARTITIONS:
        materialize_cli(env, "raw_trips*", partition)

    with duckdb.connect(str(tmp_path / "data/warehouse.duckdb"), read_only=True) as db:
        slices = db.execute(
            "SELECT service_type, strftime(revenue_month, '%Y-%m'), count(*) FROM revenue GROUP BY ALL ORDER BY 1"
        ).fetchall()
        named = db.execute("SELECT zone FROM revenue WHERE revenue_zone = 74").fetchall()
    assert [(color, month) for color, month, _ in slices] == [("green", "2021-01"), ("yellow", "2021-01")]
    assert all(count > 100 for *_, count in slices)
    assert set(named) == {("East Harlem North",)}, "the zone lookup's name for LocationID 74"

    for asset in ASSETS:
        for partition in PARTITIONS:
            assert latest_metadata(home, asset, partition), (asset, partition)


def test_cli_takes_each_month_from_the_source_that_publishes_it(tmp_path, mirror):
    """Both sources configured: 2021-01 from the course's release (CSV), 2024-01 from the TLC feed (parquet)."""
    home = dagster_home(tmp_path / "dagster_home")
    data = tmp_path / "data"
    env = user_env(DAGSTER_HOME=home, TAXI_DATA_DIR=data, TAXI_SOURCE_URL=mirror.url, TAXI_TLC_URL=mirror.url)
    materialize_zones_cli(env)
    months = {
        "green|2021-01-01": ("release", "csv.gz", GREEN_CSV),
        "green|2024-01-01": ("tlc", "parquet", GREEN_PARQUET),
    }
    for partition in months:
        materialize_cli(env, "raw_trips*", partition)

    for partition, (source, file_format, published) in months.items():
        month = partition.split("|")[1][:7]
        raw = latest_metadata(home, "raw_trips", partition)
        assert (raw["source"].value, raw["format"].value) == (source, file_format), partition
        assert raw["source_url"].value.endswith(f"green_tripdata_{month}.{file_format}"), raw["source_url"]
        expected = with_zone_names(duckdb_revenue(published, "green", month))
        report = data / "bucket/report/revenue/green" / month.replace("-", "/")
        assert_same_report(pq.read_table(str(report.resolve())).to_pylist(), expected)
        with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as db:
            loaded = db.execute(
                "SELECT * FROM revenue WHERE strftime(revenue_month, '%Y-%m') = ? AND service_type = 'green'", [month]
            )
            names = [d[0] for d in loaded.description]
            rows = [dict(zip(names, row, strict=True)) for row in loaded.fetchall()]
        assert_same_report([{k: row[k] for k in expected[0]} for row in rows], expected)
