"""`dagster asset materialize` from the command line, as a user runs it, against the loopback mirror."""

from __future__ import annotations

import os

import duckdb
from dagster import AssetKey, AssetRecordsFilter, DagsterInstance

from taxi_platform_tests.support.cli import dagster_home, materialize_cli

# Typed as a user types them after --partition (the form the docs show), so they stay literal here.
PARTITIONS = ("green|2021-01-01", "yellow|2021-01-01")


def test_cli_materializes_all_five_assets(tmp_path, mirror):
    home = dagster_home(tmp_path / "dagster_home")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "TAXI_DATA_DIR": str(tmp_path / "data"),
        "TAXI_SOURCE_URL": mirror.url,
    }
    for partition in PARTITIONS:
        materialize_cli(env, "raw_trips*", partition)

    with duckdb.connect(str(tmp_path / "data/warehouse.duckdb"), read_only=True) as db:
        slices = db.execute(
            "SELECT service_type, strftime(revenue_month, '%Y-%m'), count(*) FROM revenue GROUP BY ALL ORDER BY 1"
        ).fetchall()
    assert [(color, month) for color, month, _ in slices] == [("green", "2021-01"), ("yellow", "2021-01")]
    assert all(count > 100 for *_, count in slices)

    with DagsterInstance.from_config(str(home)) as instance:
        for key in ("raw_trips", "typed_trips", "gcs_trips", "revenue_report", "bigquery_revenue"):
            for partition in PARTITIONS:
                records = instance.fetch_materializations(
                    AssetRecordsFilter(asset_key=AssetKey(key), asset_partitions=[partition]), limit=1
                ).records
                assert records, (key, partition)
