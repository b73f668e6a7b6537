"""taxi_zones, and the zone names the revenue report and the warehouse carry, against the lookup read here."""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from dagster import materialize

from taxi_platform.assets import bigquery_revenue, revenue_report, trip_assets
from taxi_platform.partitions import partition_key
from taxi_platform.resources import DuckDBWarehouse, LocalBucket, LocalLake, TripSource
from taxi_platform.spark.stages import write_revenue_report, write_taxi_zones, write_typed_trips
from taxi_platform.tlc import TripMonth
from taxi_platform_tests.support.data import GREEN_CSV, ZONE_LOOKUP
from taxi_platform_tests.support.oracle import assert_same_report, duckdb_revenue, with_zone_names
from taxi_platform_tests.support.resources import local_platform
from taxi_platform_tests.support.warehouses import assert_refuses_a_report_of_another_month
from taxi_platform_tests.support.zones import lookup_lines, lookup_without, materialize_zones, serve_lookup

GREEN = TripMonth.parse("green", "2021-01")
# The report's columns as the warehouse table had them before the zone names, written out again on purpose.
OLD_COLUMNS = (
    "revenue_zone INTEGER, revenue_month DATE, service_type VARCHAR, revenue_monthly_fare DOUBLE, "
    "revenue_monthly_extra DOUBLE, revenue_monthly_mta_tax DOUBLE, revenue_monthly_tip_amount DOUBLE, "
    "revenue_monthly_tolls_amount DOUBLE, revenue_monthly_improvement_surcharge DOUBLE, "
    "revenue_monthly_total_amount DOUBLE, revenue_monthly_congestion_surcharge DOUBLE, "
    "avg_monthly_passenger_count DOUBLE, avg_monthly_trip_distance DOUBLE"
)
OLD_NAMES = [column.split()[0] for column in OLD_COLUMNS.split(", ")]
ZONE_NAME_COLUMNS = ["borough", "zone", "service_zone"]
FAILURE = "dagster._core.definitions.events.Failure: "  # how Dagster opens a step's error message


def lookup_rows() -> list[dict[str, str]]:
    with ZONE_LOOKUP.open(newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream))


def published_zones(data_dir: Path) -> list[dict]:
    return pq.read_table(str((data_dir / "bucket/zones").resolve())).to_pylist()


def test_taxi_zones_publishes_the_lookup_typed(resources, data_dir, mirror):
    result = materialize_zones(resources)

    expected = [
        {"LocationID": int(row["LocationID"]), **{k: v for k, v in row.items() if k != "LocationID"}}
        for row in lookup_rows()
    ]
    assert len(expected) == 265
    assert sorted(published_zones(data_dir), key=lambda r: r["LocationID"]) == expected
    schema = pq.read_schema(next((data_dir / "bucket/zones").resolve().glob("*.parquet")))
    assert [(f.name, str(f.type)) for f in schema] == [
        ("LocationID", "int32"), ("Borough", "string"), ("Zone", "string"), ("service_zone", "string")
    ]  # fmt: skip
    assert (data_dir / "raw/zones/taxi_zone_lookup.csv").read_bytes() == ZONE_LOOKUP.read_bytes()

    metadata = result.asset_materializations_for_node("taxi_zones")[0].metadata
    assert metadata["dagster/row_count"].value == 265
    assert metadata["source"].value == "release"
    assert metadata["source_url"].value == f"{mirror.url}/misc/taxi_zone_lookup.csv"
    assert "| 1 | EWR | Newark Airport | EWR |" in metadata["preview"].value


def test_the_zones_come_from_the_feed_when_the_release_lacks_them(data_dir, mirror, tmp_path):
    resources = local_platform(data_dir, mirror.url)
    resources["trip_source"] = TripSource(base_url=(tmp_path / "none").as_uri(), tlc_url=mirror.url)
    result = materialize_zones(resources)
    metadata = result.asset_materializations_for_node("taxi_zones")[0].metadata
    assert metadata["source"].value == "tlc"
    assert metadata["source_url"].value == f"{mirror.url}/misc/taxi_zone_lookup.csv"


def _duplicate_id() -> bytes:
    lines = lookup_lines()  # the last one has no line break
    return b"".join([*lines, b"\r\n", lines[4]])


BAD_LOOKUPS = {
    "header": (b'"LocationID","Borough","Zone"\r\n1,"EWR","Newark Airport"\r\n', "header is"),
    "duplicate id": (_duplicate_id(), "LocationID 4 is listed twice"),
    "id not an integer": (b"".join(lookup_lines()[:3]) + b'x7,"Queens","Astoria","Boro Zone"\r\n', "is not an integer"),
    "no rows": (lookup_lines()[0], "holds no zones"),
}


@pytest.mark.parametrize("case", list(BAD_LOOKUPS))
def test_a_bad_lookup_is_refused_and_the_previous_stays_published(resources, data_dir, mirror, case):
    materialize_zones(resources)
    before = published_zones(data_dir)
    raw = (data_dir / "raw/zones/taxi_zone_lookup.csv").read_bytes()

    body, problem = BAD_LOOKUPS[case]
    serve_lookup(mirror, body)
    result = materialize_zones(resources, raise_on_error=False)
    assert not result.success
    message = result.get_step_failure_events()[0].step_failure_data.error.message
    first = message.splitlines()[0].removeprefix(FAILURE)
    assert first.startswith("taxi_zones: ") and f"{mirror.url}/misc/taxi_zone_lookup.csv" in first, first
    assert problem in first, first
    assert published_zones(data_dir) == before
    assert (data_dir / "raw/zones/taxi_zone_lookup.csv").read_bytes() == raw


def test_revenue_report_needs_the_zones_and_names_an_unknown_zone_null(resources, data_dir, mirror):
    result = materialize(trip_assets, resources=resources, partition_key=partition_key(GREEN), raise_on_error=False)
    assert not result.success
    [failure] = result.get_step_failure_events()
    assert failure.step_key == "revenue_report"
    message = failure.step_failure_data.error.message.removeprefix(FAILURE)
    assert message.startswith("green 2021-01: the zone lookup in ") and "materialize taxi_zones first" in message

    # The busiest pickup zone of the month is left out of the lookup.
    oracle = duckdb_revenue(GREEN_CSV, "green", "2021-01")
    busiest = int(max(oracle, key=lambda row: row["revenue_monthly_total_amount"])["revenue_zone"])
    serve_lookup(mirror, lookup_without(busiest))
    materialize_zones(resources)
    assert len(published_zones(data_dir)) == 264
    result = materialize([revenue_report], resources=resources, partition_key=partition_key(GREEN))

    report = pq.read_table(str((data_dir / "bucket" / GREEN.report_path).resolve())).to_pylist()
    assert [name for name in report[0]][-3:] == ZONE_NAME_COLUMNS
    [unknown] = [row for row in report if row["revenue_zone"] == busiest]
    assert [unknown[name] for name in ZONE_NAME_COLUMNS] == [None, None, None], "the row is kept, without names"
    lookup = {int(row["LocationID"]): row for row in lookup_rows() if int(row["LocationID"]) != busiest}
    assert_same_report(report, [{**row, **_names(lookup.get(int(row["revenue_zone"])))} for row in oracle])
    metadata = result.asset_materializations_for_node("revenue_report")[0].metadata
    assert metadata["zones_without_names"].value == 1


def _names(row: dict[str, str] | None) -> dict[str, str | None]:
    if row is None:
        return dict.fromkeys(ZONE_NAME_COLUMNS)
    return {"borough": row["Borough"], "zone": row["Zone"], "service_zone": row["service_zone"]}


@pytest.fixture(scope="module")
def green_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A lake whose bucket holds the green 2021-01 report, written by the stages (the chain's upstream)."""
    from pyspark.sql import SparkSession

    from taxi_platform.resources import SparkResource
    from taxi_platform_tests.support.data import TEST_SPARK_CONFIG

    spark = SparkSession.getActiveSession() or SparkResource(spark_config=TEST_SPARK_CONFIG).spark_session
    data_dir = tmp_path_factory.mktemp("warehouse") / "data"
    write_typed_trips(spark, str(GREEN_CSV), str(data_dir / "pq"), GREEN)
    write_taxi_zones(spark, str(ZONE_LOOKUP), str(data_dir / "zones"))
    report = data_dir / "bucket" / GREEN.report_path
    write_revenue_report(spark, str(data_dir / "pq"), str(data_dir / "zones"), str(report), GREEN)
    return data_dir


OLD_ROWS = [
    (132, "2020-12-01", "green", *[1.5] * 8, 1.0, 2.5),
    (74, "2020-12-01", "green", *[2.5] * 8, 1.5, 3.0),
]


def test_a_duckdb_table_from_before_the_zone_names_gains_them(green_report, tmp_path):
    data_dir = tmp_path / "data"
    (data_dir / "bucket").mkdir(parents=True)
    (data_dir / "bucket/report").symlink_to(green_report / "bucket/report")
    with duckdb.connect(str(data_dir / "warehouse.duckdb")) as db:
        db.execute(f"CREATE TABLE revenue ({OLD_COLUMNS})")
        db.executemany(f"INSERT INTO revenue VALUES ({', '.join('?' * len(OLD_NAMES))})", OLD_ROWS)
    lake = LocalLake(root=str(data_dir))

    result = materialize(
        [bigquery_revenue], resources={"bucket": LocalBucket(lake=lake), "warehouse": DuckDBWarehouse(lake=lake)},
        partition_key=partition_key(GREEN),
    )  # fmt: skip
    assert result.success
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as db:
        cursor = db.execute("SELECT * FROM revenue ORDER BY revenue_month, revenue_zone")
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    assert names == OLD_NAMES + ZONE_NAME_COLUMNS
    _assert_kept_and_named(rows)


def test_duckdb_refuses_a_report_of_another_month_and_keeps_the_slice(green_report, tmp_path):
    """A report with rows of another month is refused: the slices and the record of loads as they were."""
    files = LocalBucket(lake=LocalLake(root=str(green_report))).data_files(GREEN.report_path)
    assert_refuses_a_report_of_another_month(DuckDBWarehouse(lake=LocalLake(root=str(tmp_path))), files, GREEN)


def _assert_kept_and_named(rows: list[dict]) -> None:
    """The old month's rows are untouched (NULL names); the new month's rows equal the course SQL with names."""
    old = sorted((row for row in rows if str(row["revenue_month"]) == "2020-12-01"), key=lambda r: r["revenue_zone"])
    assert [tuple(str(row[n]) if n == "revenue_month" else row[n] for n in OLD_NAMES) for row in old] == sorted(
        OLD_ROWS, key=lambda r: r[0]
    )
    assert all(row[name] is None for row in old for name in ZONE_NAME_COLUMNS)
    new = [row for row in rows if str(row["revenue_month"]) == "2021-01-01"]
    assert_same_report(new, with_zone_names(duckdb_revenue(GREEN_CSV, "green", "2021-01")))


def test_a_bigquery_table_from_before_the_zone_names_gains_them(green_report, bigquery_emulator, gcs_emulator):
    from google.cloud import bigquery

    from taxi_platform.resources.gcp.bucket import GCSBucket
    from taxi_platform.resources.gcp.clients import BigQueryClient, GcsClient
    from taxi_platform.resources.gcp.warehouse import BigQueryWarehouse
    from taxi_platform_tests.support.emulators import unique_name

    client = bigquery_emulator.client()
    dataset = unique_name("zones", "_")
    table_id = f"{client.project}.{dataset}.revenue"
    client.create_dataset(f"{client.project}.{dataset}")
    types = {"INTEGER": "INT64", "DATE": "DATE", "VARCHAR": "STRING", "DOUBLE": "FLOAT64"}
    columns = [column.split() for column in OLD_COLUMNS.split(", ")]
    old = bigquery.Table(table_id, schema=[bigquery.SchemaField(name, types[kind]) for name, kind in columns])
    old.time_partitioning = bigquery.TimePartitioning(type_=bigquery.TimePartitioningType.MONTH, field="revenue_month")
    old.clustering_fields = ["service_type"]
    client.create_table(old)
    values = ", ".join(
        f"({zone}, DATE '{month}', '{color}', {', '.join(map(str, rest))})" for zone, month, color, *rest in OLD_ROWS
    )
    client.query(f"INSERT INTO `{table_id}` ({', '.join(OLD_NAMES)}) VALUES {values}").result()

    # The report in a bucket of the GCS emulator, whose objects the BigQuery emulator's load jobs read.
    name = gcs_emulator.create_bucket(unique_name("zones"))
    report = green_report / "bucket" / GREEN.report_path
    for path in sorted(report.iterdir()):
        gcs_emulator.client().bucket(name).blob(f"{GREEN.report_path}/{path.name}").upload_from_filename(str(path))
    warehouse = BigQueryWarehouse(
        bigquery=BigQueryClient(project=bigquery_emulator.project, endpoint=bigquery_emulator.endpoint),
        dataset=dataset,
    )
    bucket = GCSBucket(gcs=GcsClient(project=bigquery_emulator.project, endpoint=gcs_emulator.endpoint), bucket=name)
    result = materialize(
        [bigquery_revenue], resources={"bucket": bucket, "warehouse": warehouse}, partition_key=partition_key(GREEN)
    )
    assert result.success
    table = client.get_table(table_id)
    assert [field.name for field in table.schema] == OLD_NAMES + ZONE_NAME_COLUMNS
    assert all(field.mode == "NULLABLE" for field in table.schema[-3:])
    rows = [dict(row.items()) for row in client.query(f"SELECT * FROM `{table_id}`").result()]
    assert list(rows[0]) == OLD_NAMES + ZONE_NAME_COLUMNS
    _assert_kept_and_named(rows)
