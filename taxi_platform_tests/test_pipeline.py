"""All five assets end to end: idempotent reruns, partitions kept apart, failures keep the old data."""

from __future__ import annotations

import gzip
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from dagster import materialize
from pyspark.sql import SparkSession

from taxi_platform.assets import trip_assets
from taxi_platform.partitions import partition_key
from taxi_platform.tlc import TripMonth
from taxi_platform_tests.support.zones import materialize_zones

GREEN = TripMonth.parse("green", "2021-01")
YELLOW = TripMonth.parse("yellow", "2021-01")


def run_all(resources: dict, month: TripMonth, **kwargs):
    return materialize(trip_assets, resources=resources, partition_key=partition_key(month), **kwargs)


def warehouse_rows(data_dir: Path) -> list[tuple]:
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as db:
        return db.execute("SELECT * FROM revenue ORDER BY service_type, revenue_month, revenue_zone").fetchall()


def lake_snapshot(data_dir: Path) -> dict[str, object]:
    """What a reader of the lake sees: files per partition (part names aside) and their rows."""
    snapshot: dict[str, object] = {}
    for zone in ("pq", "bucket/pq", "bucket/report/revenue"):
        for partition in sorted((data_dir / zone).glob("*/*/*")):
            if partition.name.startswith("."):
                continue
            files = sorted(p.name for p in partition.iterdir())
            rows = pq.read_table(str(partition.resolve())).sort_by(
                [(pq.read_schema(next(partition.glob("*.parquet"))).names[0], "ascending")]
            )
            snapshot[str(partition.relative_to(data_dir))] = (
                len([f for f in files if f.endswith(".parquet")]),
                "_SUCCESS" in files,
                rows.num_rows,
                sorted(map(str, rows.to_pylist())),
            )
    raw = sorted((data_dir / "raw").rglob("*"))
    snapshot["raw"] = [(str(p.relative_to(data_dir)), p.read_bytes() if p.is_file() else None) for p in raw]
    return snapshot


def test_all_five_assets_for_both_colors_rerun_is_idempotent(resources, data_dir):
    materialize_zones(resources)
    for month in (GREEN, YELLOW):
        result = run_all(resources, month)
        assert result.success
        materialized = [e.asset_key.path[-1] for e in result.get_asset_materialization_events()]
        assert materialized == ["raw_trips", "typed_trips", "gcs_trips", "revenue_report", "bigquery_revenue"]
        for event in result.get_asset_materialization_events():
            metadata = event.materialization.metadata
            assert "dagster/row_count" in metadata and "dagster/column_schema" in metadata, event.asset_key
            assert "bytes" in metadata and ("uri" in metadata or "path" in metadata), event.asset_key
            assert not any("token" in str(v).lower() or "password" in str(v).lower() for v in metadata.values())

    rows = warehouse_rows(data_dir)
    report_rows = {
        color: pq.read_table(str((data_dir / f"bucket/report/revenue/{color}/2021/01").resolve())).num_rows
        for color in ("green", "yellow")
    }
    by_color = {color: [r for r in rows if r[2] == color] for color in ("green", "yellow")}
    assert {c: len(r) for c, r in by_color.items()} == report_rows, "both partitions are kept"
    assert len(set(rows)) == len(rows)

    before = lake_snapshot(data_dir)
    again = run_all(resources, GREEN)
    assert again.success
    assert warehouse_rows(data_dir) == rows, "a rerun keeps its slice: same rows, no duplicates"
    assert lake_snapshot(data_dir) == before, "a rerun leaves the same files and rows"
    loaded = again.asset_materializations_for_node("bigquery_revenue")[0].metadata
    assert loaded["dagster/row_count"].value == report_rows["green"]
    assert loaded["table_rows"].value == len(rows)


def test_one_spark_session_per_run_stopped_at_teardown(resources):
    materialize_zones(resources)
    active = SparkSession.getActiveSession()
    if active is not None:
        active.stop()
    result = run_all(resources, GREEN)
    apps = {
        node: result.asset_materializations_for_node(node)[0].metadata["spark_application_id"].value
        for node in ("typed_trips", "revenue_report")
    }
    assert len(set(apps.values())) == 1, f"one JVM session shared by the run's Spark steps: {apps}"
    assert SparkSession.getActiveSession() is None, "the run stopped the session it started"


def test_crash_mid_rewrite_keeps_previous_version_readable(resources, data_dir):
    materialize_zones(resources)
    run_all(resources, GREEN)
    before = lake_snapshot(data_dir)
    warehouse_before = warehouse_rows(data_dir)
    # The raw file gets damaged on disk: the typed rewrite fails half-way through Spark's job.
    raw = data_dir / GREEN.raw_path
    damaged = raw.read_bytes()
    raw.write_bytes(damaged[: len(damaged) // 3])
    result = run_all(resources, GREEN, raise_on_error=False, selection=["typed_trips"])
    assert not result.success
    raw.write_bytes(damaged)
    after = lake_snapshot(data_dir)
    assert after == before, "the previous typed parquet is still the one readers see"
    assert warehouse_rows(data_dir) == warehouse_before
    assert [p.name for p in (data_dir / "pq/green/2021").iterdir()] == ["01"], "nothing but the partition in the zone"
    published = (data_dir / GREEN.typed_path).resolve()
    versions = sorted(p.name for p in published.parent.iterdir())
    expected = [published.name, f"{published.name}.json"]  # the published version and its record
    assert versions == expected, f"the failed version was cleaned up: {versions}"


def test_downstream_asset_without_upstream_fails_clearly(resources):
    result = materialize(
        trip_assets, resources=resources, partition_key=partition_key(YELLOW), selection=["typed_trips"],
        raise_on_error=False,
    )  # fmt: skip
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.error
    assert "materialize raw_trips for yellow 2021-01 first" in failure.message


def test_yellow_served_as_gzip_without_cut_line(mirror_root):
    with gzip.open(mirror_root / "yellow/yellow_tripdata_2021-01.csv.gz", "rb") as stream:
        lines = stream.read().splitlines()
    assert len(lines) == 22793
    assert lines[-1].count(b",") == lines[0].count(b",")


@pytest.mark.parametrize("selection", [["gcs_trips"], ["revenue_report"], ["bigquery_revenue"]])
def test_each_stage_names_its_missing_input(resources, selection):
    result = materialize(
        trip_assets, resources=resources, partition_key=partition_key(YELLOW), selection=selection,
        raise_on_error=False,
    )  # fmt: skip
    assert not result.success
    message = result.get_step_failure_events()[0].step_failure_data.error.message
    upstream = {"gcs_trips": "typed_trips", "revenue_report": "gcs_trips", "bigquery_revenue": "revenue_report"}
    assert f"materialize {upstream[selection[0]]} for yellow 2021-01 first" in message
