"""typed_trips: the course schema on real files, with the data's traps."""

from __future__ import annotations

import gzip
import math
import re
from pathlib import Path

import pytest
from dagster import materialize

from taxi_platform.assets import raw_trips, typed_trips
from taxi_platform.partitions import partition_key
from taxi_platform.spark.stages import write_typed_trips
from taxi_platform.tlc import TripMonth
from taxi_platform_tests.support.data import GREEN_CSV
from taxi_platform_tests.support.oracle import (
    COURSE_TYPES,
    course_csv,
    csv_rows,
    floats_for_ints,
    trips_in,
    typed_types,
)

GREEN = TripMonth.parse("green", "2021-01")
YELLOW = TripMonth.parse("yellow", "2021-01")
SPARK_NAMES = {"int": "int", "double": "double", "timestamp": "timestamp", "string": "string"}


@pytest.fixture(scope="module")
def green_rows() -> list[dict[str, str]]:
    return csv_rows(GREEN_CSV)


@pytest.fixture
def green_typed(spark, tmp_path):
    out = tmp_path / "typed"
    result = write_typed_trips(spark, str(GREEN_CSV), str(out), GREEN)
    return result, spark.read.parquet(str(out))


def test_schema_is_the_course_schema_then_the_added_columns(green_typed):
    _, frame = green_typed
    assert {f.name: f.dataType.simpleString() for f in frame.schema.fields} == typed_types("green")
    assert [f.name for f in frame.schema.fields] == [*COURSE_TYPES["green"], "cbd_congestion_fee"]
    assert frame.where("cbd_congestion_fee IS NOT NULL").count() == 0, "a 2021 CSV has no cbd_congestion_fee"


def test_every_row_is_kept_including_empty_vendor_block(green_typed, green_rows):
    result, frame = green_typed
    assert result.rows == frame.count() == len(green_rows) == trips_in(GREEN_CSV)
    empty_vendor = sum(1 for row in green_rows if row["VendorID"] == "")
    assert empty_vendor > 30_000  # the block at the end of each 2021 green file
    assert frame.where("VendorID IS NULL").count() == empty_vendor
    assert frame.where("VendorID IS NULL AND total_amount IS NOT NULL").count() == empty_vendor


def test_values_survive_crlf_and_parse(green_typed, green_rows):
    result, frame = green_typed
    assert result.observed["read_by"] == "fields", "a real month is typed in one pass, without line numbers"
    # congestion_surcharge is the last column: a stray '\r' would turn it NULL.
    present = sum(1 for row in green_rows if row["congestion_surcharge"] != "")
    assert frame.where("congestion_surcharge IS NOT NULL").count() == present
    assert result.observed["unparsed_values"] == {k: 0 for k, v in typed_types("green").items() if v != "string"}
    expected_total = math.fsum(float(row["total_amount"]) for row in green_rows)
    assert math.isclose(frame.agg({"total_amount": "sum"}).first()[0], expected_total, rel_tol=1e-9)
    passengers = sum(int(row["passenger_count"]) for row in green_rows if row["passenger_count"])
    assert frame.agg({"passenger_count": "sum"}).first()[0] == passengers


def test_pickups_outside_month_are_kept_and_counted(green_typed, green_rows):
    result, frame = green_typed
    outside = sum(1 for row in green_rows if not row["lpep_pickup_datetime"].startswith("2021-01-"))
    assert outside > 0
    assert result.observed["pickups_outside_month"] == outside
    assert frame.where("lpep_pickup_datetime < '2021-01-01'").count() > 0


def test_integers_written_as_floats_survive(spark, tmp_path, green_typed):
    _, original = green_typed
    floats = tmp_path / "green_floats.csv.gz"
    floats_for_ints(GREEN_CSV, "green", floats)
    out = tmp_path / "typed_floats"
    result = write_typed_trips(spark, str(floats), str(out), GREEN)
    from_floats = spark.read.parquet(str(out))
    assert result.rows == trips_in(GREEN_CSV)
    assert from_floats.where("VendorID IS NOT NULL").count() == original.where("VendorID IS NOT NULL").count()
    assert from_floats.exceptAll(original).count() == 0
    assert original.exceptAll(from_floats).count() == 0


def test_text_for_a_number_is_quarantined_and_a_non_integer_id_kept_as_null(spark, tmp_path, green_rows):
    header = ",".join(COURSE_TYPES["green"])
    good = dict(green_rows[0])
    text_fare = {**good, "fare_amount": "abc"}
    half_passenger = {**good, "passenger_count": "1.5"}
    lines = [",".join(row.values()) for row in (good, text_fare, half_passenger)]
    bad = tmp_path / "bad.csv"
    bad.write_text("\r\n".join([header, *lines]) + "\r\n")
    result = write_typed_trips(spark, str(bad), str(tmp_path / "out"), GREEN, quarantine_output=str(tmp_path / "q"))
    assert result.rows == 2, "the good line and the one with a non-integer count are trips"
    assert result.observed["unparsed_values"]["passenger_count"] == 1
    assert result.observed["unparsed_values"]["fare_amount"] == 0
    [quarantined] = spark.read.parquet(str(tmp_path / "q")).collect()
    assert (quarantined.line, quarantined.text) == (3, lines[1])
    assert quarantined.reason == "fare_amount is not a double: abc"


def test_partition_count_is_configurable_and_rerun_replaces(resources, data_dir):
    def run(partitions: int):
        return materialize(
            [raw_trips, typed_trips],
            resources=resources,
            partition_key=partition_key(GREEN),
            run_config={"ops": {"typed_trips": {"config": {"partitions": partitions}}}},
        )

    run(4)
    typed_dir: Path = data_dir / "pq/green/2021/01"
    assert len(list(typed_dir.glob("part-*.parquet"))) == 4
    assert (typed_dir / "_SUCCESS").exists()
    result = run(2)
    assert len(list(typed_dir.glob("part-*.parquet"))) == 2
    # `01` is a link to the one live version, kept out of the zone; the replaced version is gone.
    assert [p.name for p in typed_dir.parent.iterdir()] == ["01"]
    # Beside it, its record (what it was made from, what its materialization said); the old one's is gone too.
    version = typed_dir.resolve().name
    assert sorted(p.name for p in typed_dir.resolve().parent.iterdir()) == [version, f"{version}.json"]
    metadata = result.asset_materializations_for_node("typed_trips")[0].metadata
    assert metadata["dagster/row_count"].value == trips_in(GREEN_CSV)
    assert metadata["files"].value == 3  # two parts and _SUCCESS
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks == {"all_values_parsed": True, "no_unknown_columns": True, "no_lines_quarantined": True}


def rewrite_csv(rows: list[dict[str, str]], columns: list[str], target: Path) -> Path:
    """The rows as a gzip CSV with `columns` (a column a row lacks is empty)."""
    lines = [",".join(columns), *(",".join(row.get(name, "") for name in columns) for row in rows)]
    target.write_bytes(gzip.compress(("\r\n".join(lines) + "\r\n").encode()))
    return target


def test_a_yellow_csv_with_airport_fee_types_it_and_an_unknown_column_is_left_out(spark, tmp_path):
    """Added columns in a CSV header are typed like the feed's; a column the platform does not know is named."""
    rows = csv_rows(course_csv("yellow", tmp_path))
    for i, row in enumerate(rows):
        row["Airport_fee"] = "" if i % 10 == 0 else ("1.25" if i % 3 else "0")
        row["surprise_fee"] = "9.99"
    source = rewrite_csv(rows, [*COURSE_TYPES["yellow"], "Airport_fee", "surprise_fee"], tmp_path / "y.csv.gz")
    result = write_typed_trips(spark, str(source), str(tmp_path / "out"), YELLOW)
    frame = spark.read.parquet(str(tmp_path / "out"))
    assert [f.name for f in frame.schema.fields] == list(typed_types("yellow"))
    assert result.observed["unknown_columns"] == ["surprise_fee"]
    assert result.observed["missing_columns"] == ["cbd_congestion_fee"]
    fees = [float(row["Airport_fee"]) for row in rows if row["Airport_fee"]]
    assert frame.where("airport_fee IS NOT NULL").count() == len(fees)
    assert math.isclose(frame.agg({"airport_fee": "sum"}).first()[0], math.fsum(fees), rel_tol=1e-9)
    assert frame.where("cbd_congestion_fee IS NOT NULL").count() == 0


def test_course_columns_missing_from_a_csv_header_are_null(spark, tmp_path, green_rows):
    """Only the pickup time and the zones are required: a CSV without the others still types, NULL where absent."""
    kept = [name for name in COURSE_TYPES["green"] if name not in ("congestion_surcharge", "ehail_fee", "trip_type")]
    source = rewrite_csv(green_rows[:500], kept, tmp_path / "g.csv.gz")
    result = write_typed_trips(spark, str(source), str(tmp_path / "out"), GREEN)
    frame = spark.read.parquet(str(tmp_path / "out"))
    assert result.rows == frame.count() == 500
    assert [f.name for f in frame.schema.fields] == list(typed_types("green"))
    assert result.observed["missing_columns"] == [
        "ehail_fee",
        "trip_type",
        "congestion_surcharge",
        "cbd_congestion_fee",
    ]
    assert frame.where("congestion_surcharge IS NOT NULL OR trip_type IS NOT NULL").count() == 0
    total = math.fsum(float(row["total_amount"]) for row in green_rows[:500])
    assert math.isclose(frame.agg({"total_amount": "sum"}).first()[0], total, rel_tol=1e-9)


def test_a_csv_without_a_required_column_fails_naming_the_file_and_the_column(spark, tmp_path, green_rows):
    kept = [name for name in COURSE_TYPES["green"] if name != "DOLocationID"]
    source = rewrite_csv(green_rows[:50], kept, tmp_path / "g.csv.gz")
    with pytest.raises(ValueError, match=f"^{re.escape(str(source))}: has no DOLocationID column"):
        write_typed_trips(spark, str(source), str(tmp_path / "out"), GREEN)


def test_a_csv_read_in_parts_keeps_exact_line_numbers_across_part_boundaries(spark, tmp_path, green_rows):
    """Bad lines around the cuts between parts are quarantined with the line numbers Python counts in the file,
    and the trips equal DuckDB reading the same file (skipping the lines it cannot read)."""
    from taxi_platform.spark.lines import split_lines

    columns = list(COURSE_TYPES["green"])
    lines = [",".join(columns)] + [",".join(row[c] for c in columns) for row in green_rows[:6000]]
    parts = 4
    # Where the file is cut: broken lines keep their length, so they do not move the cuts.
    plain = tmp_path / "plain.csv"
    plain.write_bytes(("\r\n".join(lines) + "\r\n").encode())
    cuts = split_lines(plain, tmp_path / "probe", parts).first_lines[1:]
    assert len(cuts) == parts - 1
    fare = columns.index("fare_amount")
    broken: dict[int, str] = {}  # 1-based line number -> reason
    for cut in cuts:
        for number in (cut - 1, cut, cut + 1):
            fields = lines[number - 1].split(",")
            if number % 2:
                fields[fare] = "x" * len(fields[fare])
                broken[number] = f"fare_amount is not a double: {fields[fare]}"
                lines[number - 1] = ",".join(fields)
            else:
                lines[number - 1] = lines[number - 1].replace(",", ";", 1)
                broken[number] = "19 fields, the header has 20"
    source = tmp_path / "broken.csv.gz"
    source.write_bytes(gzip.compress(("\r\n".join(lines) + "\r\n").encode()))
    assert split_lines(source, tmp_path / "probe2", parts).first_lines[1:] == cuts

    result = write_typed_trips(
        spark, str(source), str(tmp_path / "out"), GREEN, parts, quarantine_output=str(tmp_path / "q")
    )
    # An independent enumeration of the file's lines.
    with gzip.open(source, "rb") as stream:
        numbered = {i: raw.rstrip(b"\r\n").decode() for i, raw in enumerate(stream, start=1)}
    expected = sorted((number, numbered[number], reason) for number, reason in broken.items())
    quarantined = sorted(tuple(row) for row in spark.read.parquet(str(tmp_path / "q")).collect())
    assert quarantined == expected
    assert result.rows == len(lines) - 1 - len(broken)
    assert result.observed["data_lines"] == result.observed["file_data_lines"] == len(lines) - 1
    assert len(list((tmp_path / "out").glob("part-*.parquet"))) == parts

    import duckdb

    types = ", ".join(
        f"'{name}': '{'DOUBLE' if kind == 'int' else kind.upper()}'" for name, kind in COURSE_TYPES["green"].items()
    )
    casts = ", ".join(
        f"CAST({name} AS INTEGER)" if kind == "int" else name for name, kind in COURSE_TYPES["green"].items()
    )
    with duckdb.connect() as db:
        db.execute("SET TimeZone = 'UTC'")
        theirs = db.execute(
            f"SELECT {casts} FROM read_csv(?, header = true, ignore_errors = true, types = {{{types}}})", [str(source)]
        ).fetchall()
        ours = db.execute(
            f"SELECT {', '.join(columns)} FROM read_parquet(?)", [str(tmp_path / "out" / "*.parquet")]
        ).fetchall()
    assert len(theirs) == result.rows
    normal = [tuple(v.replace(tzinfo=None) if hasattr(v, "tzinfo") else v for v in row) for row in ours]
    assert sorted(normal, key=repr) == sorted(theirs, key=repr)


def test_the_pass_without_line_numbers_gives_what_reading_line_by_line_gives(spark, tmp_path, green_rows):
    """A month is typed by the pass without line numbers, its quarantine (with numbers) and counts included; a blank
    line is quarantined as the line-by-line read says; the header repeated inside the file (two files joined) makes
    the pass miss a line, so the month is read line by line, where that header is quarantined; the trips are the
    same every time."""
    columns = list(COURSE_TYPES["green"])
    rows = [dict(row) for row in green_rows[:3000]]
    rows[9]["PULocationID"] = ""  # line 11: not a trip
    rows[19]["passenger_count"] = "1.5"  # a trip, its count kept as NULL
    rows[29]["VendorID"] = "2.0"  # an integer written as a float
    lines = [",".join(columns), *(",".join(row[c] for c in columns) for row in rows)]

    def typed(name: str, text_lines: list[str]):
        source = tmp_path / f"{name}.csv.gz"
        source.write_bytes(gzip.compress(("\r\n".join(text_lines) + "\r\n").encode()))
        out, quarantine = tmp_path / f"{name}-out", tmp_path / f"{name}-q"
        result = write_typed_trips(spark, str(source), str(out), GREEN, 2, quarantine_output=str(quarantine))
        bad = sorted(tuple(row) for row in spark.read.parquet(str(quarantine)).collect())
        return result, spark.read.parquet(str(out)), bad

    clean, trips, quarantined = typed("clean", lines)
    assert clean.observed["read_by"] == "fields"
    assert quarantined == [(11, lines[10], "no PULocationID")]
    assert clean.rows == trips.count() == 2999
    assert clean.observed["unparsed_values"]["passenger_count"] == 1
    assert sum(clean.observed["unparsed_values"].values()) == 1
    kept = [row for i, row in enumerate(rows) if i != 9]
    assert math.isclose(
        trips.agg({"total_amount": "sum"}).first()[0], math.fsum(float(r["total_amount"]) for r in kept), rel_tol=1e-9
    )
    vendor_2 = sum(1 for r in kept if r["VendorID"] in ("2", "2.0"))
    assert trips.where("VendorID = 2").count() == vendor_2
    passengers = sum(int(r["passenger_count"]) for r in kept if r["passenger_count"] not in ("", "1.5"))
    assert trips.agg({"passenger_count": "sum"}).first()[0] == passengers

    blank, blank_trips, blank_quarantined = typed("blank", [*lines[:500], "", *lines[500:]])
    assert blank.observed["read_by"] == "fields"
    assert blank_quarantined == [(11, lines[10], "no PULocationID"), (501, "", "1 fields, the header has 20")]
    assert blank.rows == 2999 and blank.observed["unparsed_values"] == clean.observed["unparsed_values"]
    assert blank_trips.exceptAll(trips).count() == 0 and trips.exceptAll(blank_trips).count() == 0

    joined, joined_trips, joined_quarantined = typed("joined", [*lines[:500], lines[0], *lines[500:]])
    assert joined.observed["read_by"] == "lines"
    assert joined_quarantined[0] == (11, lines[10], "no PULocationID")
    assert joined_quarantined[1] == (501, lines[0], "lpep_pickup_datetime is not a timestamp: lpep_pickup_datetime")
    assert joined.rows == 2999 and joined.observed["unparsed_values"] == clean.observed["unparsed_values"]
    assert joined_trips.exceptAll(trips).count() == 0 and trips.exceptAll(joined_trips).count() == 0
