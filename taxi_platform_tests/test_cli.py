"""`dagster asset materialize` from the command line, as a user runs it, against the loopback mirror."""

from __future__ import annotations

import duckdb

from taxi_platform_tests.support.cli import (
    dagster_home,
    latest_metadata,
    materialize_cli,
    materialize_zones_cli,
    user_env,
)
from taxi_platform_tests.support.dev_server import ASSETS

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
