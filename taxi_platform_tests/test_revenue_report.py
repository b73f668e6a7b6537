"""revenue_report against an independent computation: DuckDB running the course SQL over the CSV, the zone
lookup read with the csv module for the pickup zones' names."""

from __future__ import annotations

import datetime as dt

import pyarrow.parquet as pq
import pytest
from dagster import materialize

from taxi_platform.assets import gcs_trips, raw_trips, revenue_report, typed_trips
from taxi_platform.partitions import partition_key
from taxi_platform.tlc import TripMonth
from taxi_platform_tests.support.oracle import assert_same_report, course_csv, csv_rows, duckdb_revenue, with_zone_names
from taxi_platform_tests.support.zones import materialize_zones


@pytest.mark.parametrize("color", ["green", "yellow"])
def test_report_equals_course_sql_row_by_row(resources, data_dir, tmp_path, color):
    month = TripMonth.parse(color, "2021-01")
    source_csv = course_csv(color, tmp_path)
    materialize_zones(resources)
    result = materialize(
        [raw_trips, typed_trips, gcs_trips, revenue_report], resources=resources, partition_key=partition_key(month)
    )
    report_dir = data_dir / f"bucket/report/revenue/{color}/2021/01"
    ours = sorted(pq.read_table(str(report_dir.resolve())).to_pylist(), key=lambda r: r["revenue_zone"])
    oracle = with_zone_names(duckdb_revenue(source_csv, color, month.yyyy_mm))
    assert len(ours) == len(oracle) > 100
    assert list(ours[0])[-3:] == ["borough", "zone", "service_zone"], "the course's columns, then the zone's names"
    assert_same_report(ours, oracle)
    assert all(row["zone"] is not None for row in ours), "every pickup zone of the month is in the lookup"
    assert {row["revenue_month"] for row in ours} == {dt.date(2021, 1, 1)}

    metadata = result.asset_materializations_for_node("revenue_report")[0].metadata
    pickups = [row[f"{'lpep' if color == 'green' else 'tpep'}_pickup_datetime"] for row in csv_rows(source_csv)]
    outside = sum(1 for p in pickups if not p.startswith("2021-01-"))
    assert outside > 0
    assert metadata["pickups_outside_month"].value == outside
    assert metadata["trips_in_month"].value == len(pickups) - outside
    assert metadata["dagster/row_count"].value == len(oracle)
    assert metadata["source"].value.endswith(f"bucket/pq/{color}/2021/01"), "the report reads the published copy"
    top = max(oracle, key=lambda r: r["revenue_monthly_total_amount"])
    assert f"| {int(top['revenue_zone'])} |" in metadata["preview"].value
    assert "outside the partition's month are excluded" in revenue_report.descriptions_by_key[revenue_report.key]
    oracle_total = sum(row["revenue_monthly_total_amount"] for row in oracle)
    assert metadata["report_total_amount"].value == pytest.approx(oracle_total), "the total the audit compared"
    assert metadata["trips_total_amount"].value == pytest.approx(oracle_total)
