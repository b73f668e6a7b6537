"""Write, audit, publish: a version that fails its audit never replaces what readers see, and the
failure's first line names the partition, the file and the problem (issue 12, items 2 and 4)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
from dagster import materialize

from taxi_platform.assets import trip_assets
from taxi_platform.resources import SparkResource, StageRun, TripSource
from taxi_platform.tlc import TripMonth
from taxi_platform_tests.support.data import GREEN_CSV
from taxi_platform_tests.support.keys import key
from taxi_platform_tests.support.months import damaged_month

MONTH = TripMonth.parse("green", "2021-01")


def published(data_dir: Path) -> dict[str, bytes]:
    """Every file a reader of the typed, bucket and report zones sees, with its bytes."""
    zones = ["pq/green/2021/01", "bucket/pq/green/2021/01", "bucket/report/revenue/green/2021/01"]
    files = (p for zone in zones for p in sorted((data_dir / zone).resolve().iterdir()))
    return {str(p): p.read_bytes() for p in files if p.is_file()}


def warehouse(data_dir: Path) -> list[tuple]:
    import duckdb

    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as db:
        return db.execute("SELECT * FROM revenue ORDER BY ALL").fetchall()


def test_a_month_with_too_many_malformed_lines_keeps_the_previous_version(resources, data_dir, tmp_path):
    source = tmp_path / "source"  # a file:// source of our own: the month is republished damaged
    published_file = source / "green/green_tripdata_2021-01.csv.gz"
    published_file.parent.mkdir(parents=True)
    shutil.copy(GREEN_CSV, published_file)
    resources = {**resources, "trip_source": TripSource(base_url=source.as_uri())}
    assert materialize(trip_assets, resources=resources, partition_key=key("green", "2021-01")).success
    before, rows_before = published(data_dir), warehouse(data_dir)

    damaged = damaged_month(GREEN_CSV, published_file, every=20)
    result = materialize(trip_assets, resources=resources, partition_key=key("green", "2021-01"), raise_on_error=False)
    assert not result.success
    [failure] = [event for event in result.get_step_failure_events() if event.step_key == "typed_trips"]
    first_line = failure.step_failure_data.error.message.splitlines()[0]
    raw = str(data_dir / "raw/green/2021/01/green_tripdata_2021_01.csv.gz")
    assert "green 2021-01" in first_line and raw in first_line, first_line
    assert "not published, the previous version stays" in first_line
    assert f"{len(damaged)} of 76518 data lines could not be parsed" in first_line, first_line
    assert f"first: line {damaged[0]}: " in first_line, first_line
    assert published(data_dir) == before, "typed parquet, bucket copy and report are byte-identical"
    assert warehouse(data_dir) == rows_before


class CraftedReportSpark(SparkResource):
    """The real report stage, after which one written file is replaced by a report that disagrees with its trips."""

    def run_revenue_report(self, trips_path: str, output: str, month: TripMonth) -> StageRun:
        run = super().run_revenue_report(trips_path, output, month)
        [part] = sorted(Path(output).glob("*.parquet"))
        table = pq.read_table(part)
        index = table.schema.get_field_index("revenue_monthly_total_amount")
        doubled = pc.multiply(table.column(index), 2.0)
        pq.write_table(table.set_column(index, table.schema.field(index), doubled), part)
        return run


def test_a_report_whose_totals_disagree_with_its_trips_is_not_published(resources, data_dir):
    assert materialize(trip_assets, resources=resources, partition_key=key("green", "2021-01")).success
    before = published(data_dir)

    crafted = {**resources, "spark": CraftedReportSpark(spark_config=resources["spark"].spark_config)}
    result = materialize(
        trip_assets, resources=crafted, partition_key=key("green", "2021-01"), selection=["revenue_report"],
        raise_on_error=False,
    )  # fmt: skip
    assert not result.success
    message = result.get_step_failure_events()[0].step_failure_data.error.message.splitlines()[0]
    assert "green 2021-01" in message and str(data_dir / "bucket/pq/green/2021/01") in message, message
    assert "is not its trips' in-month total_amount" in message, message
    assert published(data_dir) == before, "the previous report is still the published one"
