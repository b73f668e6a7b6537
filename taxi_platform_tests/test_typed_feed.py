"""typed_trips over the TLC's parquet feed: every year's drift read into one typed schema per color.

Each month is compared with DuckDB reading the source file itself (support/oracle.py casts the
stored types in its own SQL), never with our Spark code.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import shutil
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from dagster import AssetCheckSeverity, materialize

from taxi_platform.assets import raw_trips, trip_assets, typed_trips
from taxi_platform.checks import trip_checks
from taxi_platform.partitions import partition_key
from taxi_platform.resources import TripSource
from taxi_platform.spark.stages import write_typed_trips
from taxi_platform.tlc import TripMonth
from taxi_platform.tlc.sources import ZONES_FILE
from taxi_platform_tests.support.data import GREEN_PARQUET, ZONE_LOOKUP
from taxi_platform_tests.support.feed import HUGE_ID, feed_path, write_feed_month
from taxi_platform_tests.support.oracle import (
    PREFIX,
    assert_same_report,
    duckdb_revenue,
    parquet_typed_sql,
    trips_in,
    typed_types,
    with_zone_names,
)
from taxi_platform_tests.support.zones import materialize_zones

SUMMED = {"int": "CAST({c} AS HUGEINT)", "double": "{c}", "timestamp": "epoch_us({c})", "string": "length({c})"}


def summary(source: str, params: list[str], color: str) -> dict[str, tuple]:
    """Rows, then per typed column: values present and their sum (timestamps as microseconds, text by length)."""
    parts = ["count(*)"]
    for name, kind in typed_types(color).items():
        parts += [f'count("{name}")', "sum(" + SUMMED[kind].format(c=f'"{name}"') + ")"]
    with duckdb.connect() as db:
        values = db.execute(f"SELECT {', '.join(parts)} FROM {source}", params).fetchone()
    result = {"rows": (values[0],)}
    for i, name in enumerate(typed_types(color)):
        result[name] = values[1 + 2 * i : 3 + 2 * i]
    return result


def expected_summary(path: Path, color: str) -> dict[str, tuple]:
    """The summary of the trips DuckDB reads from the source file."""
    return summary(f"({parquet_typed_sql(path, color)}) WHERE _is_trip", [str(path)], color)


def written_summary(folder: Path, color: str) -> dict[str, tuple]:
    return summary("read_parquet(?)", [f"{folder.resolve()}/*.parquet"], color)


def assert_same_summary(ours: dict[str, tuple], theirs: dict[str, tuple]) -> None:
    assert ours.keys() == theirs.keys()
    for name, values in theirs.items():
        for mine, their in zip(ours[name], values, strict=True):
            if isinstance(their, float):
                assert math.isclose(mine, their, rel_tol=1e-9), (name, ours[name], values)
            else:
                assert mine == their, (name, ours[name], values)


def oracle_counts(path: Path, color: str) -> tuple[int, dict[str, int]]:
    """(rows that are not trips, per typed column: stored values among trips that are not of the type)."""
    with duckdb.connect() as db:
        frame = db.execute(f"SELECT * FROM ({parquet_typed_sql(path, color)})", [str(path)])
        names = [d[0] for d in frame.description]
        rows = [dict(zip(names, row, strict=True)) for row in frame.fetchall()]
    unparsed = {
        name: sum(1 for row in rows if row["_is_trip"] and row.get(f"_unparsed_{name}"))
        for name, kind in typed_types(color).items()
        if kind != "string"
    }
    return sum(1 for row in rows if not row["_is_trip"]), unparsed


def feed_resources(resources: dict, root: Path) -> dict:
    """The local platform reading months (and the zone lookup) from a file:// feed at `root`, and nothing else."""
    (root / ZONES_FILE).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ZONE_LOOKUP, root / ZONES_FILE)
    source = TripSource(base_url=root.as_uri(), tlc_url=root.as_uri(), sources="tlc", backoff_seconds=0.05)
    resources = {**resources, "trip_source": source}
    materialize_zones(resources)
    return resources


def typed_metadata(result) -> dict:
    return {k: v.value for k, v in result.asset_materializations_for_node("typed_trips")[0].metadata.items()}


def test_the_real_green_2024_01_parquet_equals_duckdb_reading_it(resources, data_dir, tmp_path):
    month = TripMonth.parse("green", "2024-01")
    feed = tmp_path / "feed"
    feed_path(feed, "green", "2024-01").parent.mkdir(parents=True)
    shutil.copyfile(GREEN_PARQUET, feed_path(feed, "green", "2024-01"))
    result = materialize(
        [*trip_assets, *trip_checks], resources=feed_resources(resources, feed), partition_key=partition_key(month)
    )
    assert result.success
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks == {name: True for name in checks} and "rows_match_raw_file" in checks, checks

    typed = data_dir / month.typed_path
    expected = expected_summary(GREEN_PARQUET, "green")
    assert expected["rows"] == (trips_in(GREEN_PARQUET),)
    assert_same_summary(written_summary(typed, "green"), expected)
    metadata = typed_metadata(result)
    assert metadata["source_format"] == "parquet"
    assert metadata["dagster/row_count"] == trips_in(GREEN_PARQUET)
    assert metadata["missing_columns"] == "cbd_congestion_fee"
    assert metadata["unknown_columns"] == "none"
    assert metadata["unparsed_values"] == 0
    schema = pq.read_schema(next(typed.resolve().glob("*.parquet")))
    assert schema.names == list(typed_types("green"))
    report = pq.read_table(str((data_dir / "bucket" / month.report_path).resolve())).to_pylist()
    assert_same_report(report, with_zone_names(duckdb_revenue(GREEN_PARQUET, "green", "2024-01")))


@pytest.mark.parametrize(
    ("style", "yyyy_mm", "missing"),
    [("2025", "2025-02", "none"), ("2019", "2019-03", "cbd_congestion_fee")],
    ids=["2025-drift", "2019-drift"],
)
def test_a_generated_yellow_month_of_each_era_equals_duckdb_reading_it(
    resources, data_dir, tmp_path, style, yyyy_mm, missing
):
    """2025: INT32 ids, INT64 counts, `Airport_fee`, `cbd_congestion_fee`. 2019: INT64 ids, DOUBLE counts with
    `1.5`s, an all-NULL INT32 `airport_fee`. Both: a few rows without a pickup or zone, payment types beyond INT32."""
    month = TripMonth.parse("yellow", yyyy_mm)
    feed = tmp_path / "feed"
    source = write_feed_month(
        feed_path(feed, "yellow", yyyy_mm), "yellow", yyyy_mm, style, rows=4000, seed=7, null_keys=3, huge_ids=2
    )
    result = materialize(trip_assets, resources=feed_resources(resources, feed), partition_key=partition_key(month))
    assert result.success
    report = pq.read_table(str((data_dir / "bucket" / month.report_path).resolve())).to_pylist()
    assert_same_report(report, with_zone_names(duckdb_revenue(source, "yellow", yyyy_mm)))

    quarantined, unparsed = oracle_counts(source, "yellow")
    assert quarantined == 3 and unparsed["payment_type"] == 2
    if style == "2019":
        assert unparsed["passenger_count"] > 0 and unparsed["RatecodeID"] > 0, "the generated 1.5s"
    assert_same_summary(written_summary(data_dir / month.typed_path, "yellow"), expected_summary(source, "yellow"))
    metadata = typed_metadata(result)
    assert (metadata["source_format"], metadata["missing_columns"]) == ("parquet", missing)
    assert metadata["quarantined_lines"] == 3
    assert metadata["unparsed_values"] == sum(unparsed.values())
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert not checks["all_values_parsed"].passed
    assert checks["all_values_parsed"].severity == AssetCheckSeverity.WARN
    assert checks["all_values_parsed"].metadata["unparsed_by_column"].value == {k: v for k, v in unparsed.items() if v}
    assert checks["no_unknown_columns"].passed

    # The quarantine holds the rows themselves: 1-based row number, the row as JSON, why.
    quarantine = pq.read_table(str((data_dir / month.quarantine_path).resolve())).to_pylist()
    with duckdb.connect() as db:
        found = db.execute(
            "SELECT file_row_number + 1 AS line, * FROM read_parquet(?, file_row_number = true) "
            "WHERE tpep_pickup_datetime IS NULL OR PULocationID IS NULL OR DOLocationID IS NULL ORDER BY 1",
            [str(source)],
        )
        names = [d[0] for d in found.description]
        rows = [dict(zip(names, row, strict=True)) for row in found.fetchall()]
    assert [row["line"] for row in quarantine] == [row["line"] for row in rows]
    for row, expected in zip(quarantine, rows, strict=True):
        text = json.loads(row["text"])
        assert set(text) == set(names) - {"line", "file_row_number"}, "every column of the row, NULLs included"
        assert text["PULocationID"] == expected["PULocationID"], (row, expected)
        assert text["total_amount"] == expected["total_amount"], (row, expected)
        assert row["reason"].startswith("no "), row


def test_payment_types_beyond_int32_are_null_and_counted(spark, tmp_path):
    """An INT64 id beyond INT32 cannot be an int: NULL, counted, the trip kept."""
    month = TripMonth.parse("yellow", "2023-05")
    source = write_feed_month(tmp_path / "y.parquet", "yellow", "2023-05", "2023", rows=500, seed=3, huge_ids=4)
    result = write_typed_trips(spark, str(source), str(tmp_path / "out"), month)
    assert result.rows == 500
    assert result.observed["unparsed_values"]["payment_type"] == 4
    huge = pq.read_table(source).column("payment_type").to_pylist().count(HUGE_ID)
    assert huge == 4
    present = sum(1 for value in pq.read_table(source).column("payment_type").to_pylist() if value is not None)
    assert spark.read.parquet(str(tmp_path / "out")).where("payment_type IS NOT NULL").count() == present - 4


def test_millisecond_timestamps_are_read(spark, tmp_path):
    month = TripMonth.parse("green", "2023-07")
    source = write_feed_month(tmp_path / "g.parquet", "green", "2023-07", "2023", rows=800, seed=5, timestamp_unit="ms")
    assert str(pq.read_schema(source).field("lpep_pickup_datetime").type) == "timestamp[ms]"
    write_typed_trips(spark, str(source), str(tmp_path / "out"), month)
    assert_same_summary(written_summary(tmp_path / "out", "green"), expected_summary(source, "green"))


def test_nanosecond_timestamps_are_read_to_the_microsecond(spark, tmp_path):
    """Spark 3.5 cannot read TIMESTAMP(NANOS) as a timestamp (SPARK-40819): the stage finds those columns in the
    footer, reads them as the nanoseconds they store and floors them to the microsecond."""
    month = TripMonth.parse("yellow", "2024-03")
    source = write_feed_month(
        tmp_path / "y.parquet", "yellow", "2024-03", "2025", rows=700, seed=9, timestamp_unit="ns"
    )
    table = pq.read_table(source)
    nanos = pa.array([(1 if i % 2 else -1) * 999 for i in range(table.num_rows)], pa.int64())  # sub-microsecond
    moved = pc.add(table["tpep_dropoff_datetime"].cast(pa.int64()), nanos).cast(pa.timestamp("ns"))
    table = table.set_column(table.schema.get_field_index("tpep_dropoff_datetime"), "tpep_dropoff_datetime", moved)
    pq.write_table(table, source)
    assert pq.read_schema(source).field("tpep_pickup_datetime").type == pa.timestamp("ns")
    before = spark.conf.get("spark.sql.legacy.parquet.nanosAsLong")

    result = write_typed_trips(spark, str(source), str(tmp_path / "out"), month)
    assert result.rows == 700
    typed = pq.read_table(tmp_path / "out")
    assert typed.schema.field("tpep_dropoff_datetime").type == pa.timestamp("us", tz="UTC")
    floored = [
        dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=value // 1000)
        for value in table["tpep_dropoff_datetime"].cast(pa.int64()).to_pylist()
    ]
    assert sorted(v.replace(tzinfo=None) for v in typed["tpep_dropoff_datetime"].to_pylist()) == sorted(floored)
    ours, theirs = written_summary(tmp_path / "out", "yellow"), expected_summary(source, "yellow")
    assert ours.pop("tpep_dropoff_datetime")[0] == theirs.pop("tpep_dropoff_datetime")[0] == 700
    assert_same_summary(ours, theirs)
    assert spark.conf.get("spark.sql.legacy.parquet.nanosAsLong") == before, "the session's setting is restored"


def test_a_column_stored_in_a_type_that_cannot_be_its_own_fails_naming_the_file_and_the_column(spark, tmp_path):
    month = TripMonth.parse("green", "2023-06")
    source = write_feed_month(tmp_path / "g.parquet", "green", "2023-06", "2023", rows=50)
    table = pq.read_table(source)
    index = table.schema.get_field_index("lpep_dropoff_datetime")
    pq.write_table(table.set_column(index, "lpep_dropoff_datetime", pa.array([True] * 50)), source)
    with pytest.raises(ValueError) as failure:
        write_typed_trips(spark, str(source), str(tmp_path / "out"), month)
    assert str(failure.value) == f"{source}: column lpep_dropoff_datetime is stored as boolean, not a timestamp"


def test_a_column_of_an_early_year_missing_is_null_and_an_unknown_one_left_out(resources, data_dir, tmp_path):
    month = TripMonth.parse("green", "2019-02")
    feed = tmp_path / "feed"
    source = write_feed_month(
        feed_path(feed, "green", "2019-02"), "green", "2019-02", "2019", rows=600, seed=11,
        drop=["congestion_surcharge"], extra_columns=["surprise_fee"],
    )  # fmt: skip
    result = materialize(
        [raw_trips, typed_trips], resources=feed_resources(resources, feed), partition_key=partition_key(month)
    )
    assert result.success
    metadata = typed_metadata(result)
    assert metadata["missing_columns"] == "congestion_surcharge, cbd_congestion_fee"
    assert metadata["unknown_columns"] == "surprise_fee"
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert not checks["no_unknown_columns"].passed
    assert checks["no_unknown_columns"].severity == AssetCheckSeverity.WARN
    assert checks["no_unknown_columns"].metadata["unknown_columns"].value == ["surprise_fee"]
    typed = pq.read_table(str((data_dir / month.typed_path).resolve()))
    assert typed.schema.names == list(typed_types("green"))
    assert typed.column("congestion_surcharge").null_count == typed.num_rows == pq.read_metadata(source).num_rows
    assert_same_summary(written_summary(data_dir / month.typed_path, "green"), expected_summary(source, "green"))


def test_a_raw_parquet_without_a_required_column_fails_naming_it(resources, data_dir, tmp_path):
    """A raw file the raw check would refuse, put in the lake by hand: typed_trips says what is wrong."""
    month = TripMonth.parse("green", "2023-04")
    raw = data_dir / month.raw_path_of("parquet")
    write_feed_month(raw, "green", "2023-04", "2023", rows=100, drop=["DOLocationID"])
    result = materialize(trip_assets, resources=resources, partition_key=partition_key(month),
                         selection=["typed_trips"], raise_on_error=False)  # fmt: skip
    assert not result.success
    first_line = result.get_step_failure_events()[0].step_failure_data.error.message.splitlines()[0]
    assert "green 2023-04: " in first_line and str(raw) in first_line, first_line
    assert "DOLocationID" in first_line, first_line


def test_too_many_rows_without_a_zone_keep_the_month_unpublished(resources, data_dir, tmp_path):
    month = TripMonth.parse("yellow", "2023-09")
    feed = tmp_path / "feed"
    write_feed_month(feed_path(feed, "yellow", "2023-09"), "yellow", "2023-09", "2023", rows=2000, null_keys=40)
    result = materialize(
        [raw_trips, typed_trips], resources=feed_resources(resources, feed), partition_key=partition_key(month),
        raise_on_error=False,
    )  # fmt: skip
    assert not result.success
    first_line = result.get_step_failure_events()[0].step_failure_data.error.message.splitlines()[0]
    assert "40 of 2000 data lines could not be parsed" in first_line, first_line
    assert not (data_dir / month.typed_path).exists()


def test_a_colors_typed_zone_reads_as_one_dataset_across_formats_and_years(
    spark, resources, data_dir, tmp_path, mirror
):
    """CSV-born 2021-01 (release), parquet-born 2019-03 and 2025-02 (feed): one glob, one schema, no merge error."""
    feed = tmp_path / "feed"
    for yyyy_mm, style in (("2019-03", "2019"), ("2025-02", "2025")):
        write_feed_month(feed_path(feed, "yellow", yyyy_mm), "yellow", yyyy_mm, style, rows=1500, seed=2)
    source = TripSource(base_url=mirror.url, tlc_url=feed.as_uri(), backoff_seconds=0.05)
    months = [TripMonth.parse("yellow", m) for m in ("2021-01", "2019-03", "2025-02")]
    rows, formats = 0, []
    for month in months:
        result = materialize(
            [raw_trips, typed_trips], resources={**resources, "trip_source": source}, partition_key=partition_key(month)
        )
        assert result.success
        rows += typed_metadata(result)["dagster/row_count"]
        formats.append(typed_metadata(result)["source_format"])
    assert formats == ["csv.gz", "parquet", "parquet"]

    glob = str(data_dir / "pq/yellow/*/*")
    frame = spark.read.parquet(glob)
    assert [(f.name, f.dataType.simpleString()) for f in frame.schema.fields] == list(typed_types("yellow").items())
    assert frame.count() == rows
    with duckdb.connect() as db:
        assert db.execute("SELECT count(*) FROM read_parquet(?)", [f"{glob}/*.parquet"]).fetchone()[0] == rows
        described = db.execute("DESCRIBE SELECT * FROM read_parquet(?)", [f"{glob}/*.parquet"]).fetchall()
    assert [name for name, *_ in described] == list(typed_types("yellow"))
    assert spark.read.parquet(glob).where(f"{PREFIX['yellow']}_pickup_datetime >= '2025-02-01'").count() > 0
