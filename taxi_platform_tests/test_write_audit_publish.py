"""Write, audit, publish: bad lines are quarantined with their line number, a version that fails its audit
never replaces what readers see, and the failure's first line names the partition, the file and the problem."""

from __future__ import annotations

import gzip
import importlib
import shutil
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
from dagster import AssetCheckSeverity, materialize

from taxi_platform.assets import trip_assets
from taxi_platform.resources import SparkResource, StageRun, TripSource
from taxi_platform.tlc import TripMonth
from taxi_platform_tests.support.data import GREEN_CSV
from taxi_platform_tests.support.keys import key
from taxi_platform_tests.support.months import damaged_month
from taxi_platform_tests.support.oracle import assert_same_report, duckdb_revenue, trips_in, with_zone_names
from taxi_platform_tests.support.zones import materialize_zones

# The module (the package exports the asset under the same name).
revenue_report_module = importlib.import_module("taxi_platform.assets.revenue_report")

MONTH = TripMonth.parse("green", "2021-01")
NOWHERE = "http://127.0.0.1:9"  # the TLC feed of a test whose own source has the month: never reached


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
    materialize_zones(resources)
    source = tmp_path / "source"  # a file:// source of our own: the month is republished damaged
    published_file = source / "green/green_tripdata_2021-01.csv.gz"
    published_file.parent.mkdir(parents=True)
    shutil.copy(GREEN_CSV, published_file)
    resources = {**resources, "trip_source": TripSource(base_url=source.as_uri(), tlc_url=source.as_uri())}
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
    assert f"{len(damaged)} of {trips_in(GREEN_CSV)} data lines could not be parsed" in first_line, first_line
    assert f"first: line {damaged[0]}: " in first_line, first_line
    assert published(data_dir) == before, "typed parquet, bucket copy and report are byte-identical"
    assert warehouse(data_dir) == rows_before


class CraftedReportSpark(SparkResource):
    """The real report stage, after which one written file is replaced by a report that disagrees with its trips."""

    def run_revenue_report(self, trips_path: str, zones_path: str, output: str, month: TripMonth) -> StageRun:
        run = super().run_revenue_report(trips_path, zones_path, output, month)
        [part] = sorted(Path(output).glob("*.parquet"))
        table = pq.read_table(part)
        index = table.schema.get_field_index("revenue_monthly_total_amount")
        doubled = pc.multiply(table.column(index), 2.0)
        pq.write_table(table.set_column(index, table.schema.field(index), doubled), part)
        return run


def test_a_report_whose_totals_disagree_with_its_trips_is_not_published(resources, data_dir, monkeypatch):
    materialize_zones(resources)
    assert materialize(trip_assets, resources=resources, partition_key=key("green", "2021-01")).success
    before = published(data_dir)
    # New report code, as a bug arrives: with its code version bumped, so the unchanged month is built again.
    monkeypatch.setattr(revenue_report_module, "REVENUE_REPORT_CODE_VERSION", "2-crafted")

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


def test_a_malformed_line_and_an_impossible_pickup_are_quarantined_and_the_rest_published(
    resources, data_dir, tmp_path
):
    lines = gzip.decompress(GREEN_CSV.read_bytes()).split(b"\n")
    malformed, impossible = 1000, 2500  # 1-based file line numbers; line 1 is the header
    lines[malformed - 1] = b",".join(lines[malformed - 1].split(b",")[:5])
    fields = lines[impossible - 1].split(b",")
    fields[1] = b"2021-13-45 25:61:00"
    lines[impossible - 1] = b",".join(fields)
    source = tmp_path / "source/green/green_tripdata_2021-01.csv.gz"
    source.parent.mkdir(parents=True)
    source.write_bytes(gzip.compress(b"\n".join(lines)))
    # The oracle reads the same file without those two lines.
    skipped = tmp_path / "skipped.csv.gz"
    skipped.write_bytes(
        gzip.compress(b"\n".join(text for i, text in enumerate(lines, 1) if i not in (malformed, impossible)))
    )

    materialize_zones(resources)
    resources = {**resources, "trip_source": TripSource(base_url=(tmp_path / "source").as_uri(), tlc_url=NOWHERE)}
    result = materialize(trip_assets, resources=resources, partition_key=key("green", "2021-01"))
    assert result.success

    quarantine = pq.read_table(str((data_dir / MONTH.quarantine_path).resolve())).to_pylist()
    assert [(row["line"], row["text"].encode()) for row in quarantine] == [
        (malformed, lines[malformed - 1].rstrip(b"\r")),
        (impossible, lines[impossible - 1].rstrip(b"\r")),
    ]
    assert quarantine[0]["reason"] == "5 fields, the header has 20"
    assert quarantine[1]["reason"] == "lpep_pickup_datetime is not a timestamp: 2021-13-45 25:61:00"
    data_lines = sum(1 for line in lines[1:] if line.strip())
    typed_rows = pq.ParquetDataset(str((data_dir / MONTH.typed_path).resolve())).read().num_rows
    assert typed_rows == data_lines - 2
    metadata = result.asset_materializations_for_node("typed_trips")[0].metadata
    assert metadata["quarantined_lines"].value == 2
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert not checks["no_lines_quarantined"].passed
    assert checks["no_lines_quarantined"].severity == AssetCheckSeverity.WARN

    report = pq.read_table(str((data_dir / "bucket" / MONTH.report_path).resolve())).to_pylist()
    assert_same_report(report, with_zone_names(duckdb_revenue(skipped, "green", "2021-01")))


def test_a_csv_with_an_added_column_materializes_and_names_it(resources, data_dir, tmp_path):
    """The TLC adds columns (`airport_fee`): the month is typed with the course's schema and the column named."""
    lines = gzip.decompress(GREEN_CSV.read_bytes()).rstrip(b"\r\n").split(b"\r\n")
    added = [lines[0] + b",airport_fee", *(line + b",1.25" for line in lines[1:])]
    source = tmp_path / "source/green/green_tripdata_2021-01.csv.gz"
    source.parent.mkdir(parents=True)
    source.write_bytes(gzip.compress(b"\r\n".join(added) + b"\r\n"))
    materialize_zones(resources)
    resources = {**resources, "trip_source": TripSource(base_url=(tmp_path / "source").as_uri(), tlc_url=NOWHERE)}

    result = materialize(trip_assets, resources=resources, partition_key=key("green", "2021-01"))
    assert result.success
    raw = result.asset_materializations_for_node("raw_trips")[0].metadata
    typed = result.asset_materializations_for_node("typed_trips")[0].metadata
    assert raw["unknown_columns"].value == typed["unknown_columns"].value == "airport_fee"
    assert typed["dagster/row_count"].value == len(lines) - 1
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert not checks["no_unknown_columns"].passed
    assert checks["no_unknown_columns"].severity == AssetCheckSeverity.WARN
    schema = pq.read_schema(sorted((data_dir / MONTH.typed_path).resolve().glob("*.parquet"))[0])
    assert "airport_fee" not in schema.names and schema.names[0] == "VendorID"
    report = pq.read_table(str((data_dir / "bucket" / MONTH.report_path).resolve())).to_pylist()
    assert_same_report(report, with_zone_names(duckdb_revenue(GREEN_CSV, "green", "2021-01")))
