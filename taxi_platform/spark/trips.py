"""A month's raw file -> typed trips with one schema per color, and the rows that cannot be trips.

Two readers, one typing. A CSV from the course's release is read as numbered lines and split into
text; a parquet file from the TLC's feed is read with its own types (INT32, INT64 or DOUBLE for the
same column in different years). Either way each column the color's typed schema knows is found by
its name (without case: `Airport_fee` is `airport_fee`) and typed by `typed_value`, the one mapping
from a stored value to its typed column. The typed schema is the course's columns, in the course's
order, then the columns the TLC added since (`tlc.schemas.typed_columns`), all nullable: a column a
file lacks (an early year's) is NULL, a column the platform does not know is left out.

What is bad is decided per column:

- a pickup time, pickup zone or drop-off zone that is missing or not of its type (`2021-13-45
  25:61:00`, a zone of 1.5);
- text where a number belongs (`abc` as a fare), in a CSV;
- a CSV line without the header's number of fields.

Everything else is a trip: empty values are NULL (about 44 % of green 2021 rows have no VendorID),
and an integer column accepts `1`, `1.0` and any integer type; a number that is not an integer in
range (`1.5`, or an INT64 beyond INT32) is kept as NULL and counted, since the row itself is sound.
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Collection
from functools import reduce

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from taxi_platform.spark.lines import LineParts
from taxi_platform.tlc.schemas import (
    TRIP_COLUMNS,
    ColumnType,
    TripColumn,
    file_columns,
    pickup_column,
    required_columns,
    typed_columns,
)

_SPARK_TYPES: dict[ColumnType, T.DataType] = {
    "int": T.IntegerType(),
    "double": T.DoubleType(),
    "timestamp": T.TimestampType(),
    "date": T.DateType(),
    "string": T.StringType(),
}
_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1
_NUMBERS = (T.ByteType, T.ShortType, T.IntegerType, T.LongType, T.FloatType, T.DoubleType, T.DecimalType)
_INTEGERS = (T.ByteType, T.ShortType, T.IntegerType, T.LongType)
_TIMES = (T.TimestampType, T.TimestampNTZType, T.DateType)
# The quarantine's columns: where the row was, what it said, why it is not a trip.
QUARANTINE_SCHEMA = T.StructType(
    [
        T.StructField("line", T.LongType(), False),
        T.StructField("text", T.StringType(), True),
        T.StructField("reason", T.StringType(), False),
    ]
)
REASON = "_reason"  # NULL for a trip, else why the row is quarantined
MONTH_INDEX = "_month"  # a row's month in a ranged read: its index in the list of months read


class UnreadableColumn(ValueError):
    """A file's column is stored in a type its typed column cannot be read from."""


def struct_type(columns: tuple[TripColumn, ...]) -> T.StructType:
    """Named columns (`tlc/`) as a Spark StructType, every column nullable."""
    return T.StructType([T.StructField(c.name, _SPARK_TYPES[c.type], True) for c in columns])


def trip_schema(color: str) -> T.StructType:
    """The course's schema for a color as a Spark StructType: how the course reads a CSV (the benchmarks' bare way)."""
    return struct_type(TRIP_COLUMNS[color])


def can_read(source: T.DataType, column_type: ColumnType) -> bool:
    """Whether `typed_value` reads a value stored as `source` into a column of `column_type`."""
    if isinstance(source, T.StringType) or column_type == "string":
        return True
    if column_type in ("int", "double"):
        return isinstance(source, _NUMBERS)
    return isinstance(source, _TIMES)


def typed_value(value: Column, source: T.DataType, column_type: ColumnType) -> Column:
    """A value stored as `source` (text for a CSV) as its typed column's type.

    Integers accept any integral or floating type and text: `1` and `1.0` are 1; `1.5` and values
    beyond INT32 are NULL (counted by `unparsed_value_counts`). Timestamps stored with or without
    a time zone become the typed `timestamp` (the session's zone is UTC, so wall clocks are kept).
    The stages parse each value once: `_parsed`, then the cheap `_typed_from_parsed`.
    """
    parsed = _parsed(value, source, column_type)
    return _typed_from_parsed(value if parsed is None else parsed, source, column_type)


def _parsed(value: Column, source: T.DataType, column_type: ColumnType) -> Column | None:
    """The one costly step of typing: text parsed as a number (double) or a time; None where nothing is parsed."""
    if not isinstance(source, T.StringType) or column_type == "string":
        return None
    if column_type in ("int", "double"):
        return value.cast("double")
    return value.cast(_SPARK_TYPES[column_type])


def _typed_from_parsed(parsed: Column, source: T.DataType, column_type: ColumnType) -> Column:
    """A parsed value (`_parsed`, or the stored one) as its typed column: range and integer checks, cheap casts."""
    if column_type == "int":
        if isinstance(source, _INTEGERS):
            return F.when(parsed.between(_INT_MIN, _INT_MAX), parsed.cast("int"))
        number = parsed.cast("double")
        return F.when((number == F.floor(number)) & number.between(_INT_MIN, _INT_MAX), number.cast("int"))
    return parsed.cast(_SPARK_TYPES[column_type])


def _stored(rows: DataFrame, color: str) -> list[tuple[TripColumn, T.DataType]]:
    """The typed columns `rows` holds (under their typed names), with the type each is stored as.

    Raises `UnreadableColumn` for a column stored in a type its typed column cannot be read from.
    """
    types = {field.name: field.dataType for field in rows.schema.fields}
    stored = [(column, types[column.name]) for column in typed_columns(color) if column.name in types]
    for column, source in stored:
        if not can_read(source, column.type):
            raise UnreadableColumn(f"column {column.name} is stored as {source.simpleString()}, not a {column.type}")
    return stored


_PARSED = "_parsed_"  # prefix of the columns holding the one parse of a stored text value
UNPARSED = "_unparsed_"  # prefix of the flags: a stored value that is not of its column's type, kept as NULL


def with_reasons(
    rows: DataFrame, color: str, first_reason: Column | None = None, worded: bool = True, keep: tuple[str, ...] = ()
) -> DataFrame:
    """`rows` (line, text and stored values under typed names) typed once, plus `_reason` (NULL for a trip).

    The result has `line`, `text`, the typed columns the rows have (typed), `_reason`, and per
    non-text typed column a flag `_unparsed_{name}`: stored, but not of its type (kept as NULL).
    Not `worded`, a reason does not quote the value (the same rows are trips; nothing is built
    for a quarantine the caller does not write). The columns in `keep` are carried through.
    Each stored text is parsed once, in its own projection (Spark keeps a projection whose costly
    columns are used more than once); the typed values, reasons and flags are cheap on top of it.
    """
    stored = _stored(rows, color)
    kinds = {column.name: (column, source) for column, source in stored}
    missing = [name for name in required_columns(color) if name not in kinds]
    if missing:
        raise UnreadableColumn(f"has no {missing[0]} column, which every {color} trip needs")
    parsing = {}
    for column, source in stored:
        parsed = _parsed(F.col(column.name), source, column.type)
        if parsed is not None:
            parsing[_PARSED + column.name] = parsed
    parsed_rows = rows.withColumns(parsing)

    def parsed_of(name: str) -> Column:
        return F.col(_PARSED + name) if _PARSED + name in parsing else F.col(name)

    typed = {c.name: _typed_from_parsed(parsed_of(c.name), source, c.type) for c, source in stored}
    reasons = [first_reason] if first_reason is not None else []
    for name in required_columns(color):
        column, _ = kinds[name]
        value = F.col(name)
        reasons.append(F.when(value.isNull(), F.lit(f"no {name}")))
        reasons.append(F.when(typed[name].isNull(), _not_of_type(name, column.type, value.cast("string"), worded)))
    # Text where a number or a time belongs: present, but nothing parsed.
    reasons += [
        F.when(
            F.col(c.name).isNotNull() & F.col(_PARSED + c.name).isNull(),
            _not_of_type(c.name, c.type, F.col(c.name), worded),
        )
        for c, _ in stored
        if _PARSED + c.name in parsing
    ]
    unparsed = [
        (F.col(c.name).isNotNull() & typed[c.name].isNull()).alias(UNPARSED + c.name)
        for c, _ in stored
        if c.type != "string"
    ]
    return parsed_rows.select(
        "line",
        "text",
        *keep,
        *(typed[c.name].alias(c.name) for c, _ in stored),
        F.coalesce(*reasons).alias(REASON),
        *unparsed,
    )


def _not_of_type(name: str, kind: str, value: Column, worded: bool) -> Column:
    said = f"{name} is not a {kind}"
    return F.concat(F.lit(f"{said}: "), value) if worded else F.lit(said)


def read_numbered_lines(spark: SparkSession, path: str) -> DataFrame:
    """`line` (1-based, the header is line 1) and `text` (without its CR) of every line of a text file.

    A gzip file is one partition, so the row order within it is the file's; for a file Spark splits,
    each split's first line number comes from the counts of the splits before it.
    """
    lines = (
        spark.read.option("lineSep", "\n")
        .text(path)
        .select(
            F.spark_partition_id().alias("_split"),
            F.monotonically_increasing_id().alias("_id"),
            without_cr(F.col("value")).alias("text"),
        )
    )
    # monotonically_increasing_id = (split << 33) + the row's index within its split.
    index = F.col("_id") - F.shiftleft(F.col("_split").cast("long"), 33)
    if lines.rdd.getNumPartitions() == 1:
        return lines.select((index + 1).alias("line"), "text")
    counts = sorted(lines.groupBy("_split").count().collect())
    starts, first = [], 0
    for split, count in counts:
        starts.append((split, first))
        first += count
    offsets = spark.createDataFrame(starts, "_split int, _first long")
    return lines.join(F.broadcast(offsets), "_split").select((F.col("_first") + index + 1).alias("line"), "text")


def read_numbered_parts(spark: SparkSession, parts: LineParts) -> DataFrame:
    """`line` and `text` of the lines of `split_lines`' parts, read in parallel: one task per part.

    A part's lines are numbered from its first line (in its name) by their index within the task,
    which holds that part alone when the session reads files with `part_read_settings(parts)`; a
    read that is not one part per task fails here rather than misnumber lines.
    """
    lines = spark.read.option("lineSep", "\n").text(parts.paths)
    tasks = lines.rdd.getNumPartitions()
    if tasks != len(parts.paths):
        raise RuntimeError(f"{len(parts.paths)} text parts were planned as {tasks} tasks, not one each")
    first = F.regexp_extract(F.col("_metadata.file_name"), r"^(\d+)\.txt$", 1).cast("long")
    index = F.monotonically_increasing_id() - F.shiftleft(F.spark_partition_id().cast("long"), 33)
    return lines.select((first + index).alias("line"), without_cr(F.col("value")).alias("text"))


def read_trip_fields(spark: SparkSession, months: list[LineParts], color: str, header: list[str]) -> DataFrame:
    """The data lines of `months` (files with this one `header`) split and typed as `parse_trip_lines` does,
    without numbers: the fast first pass. `MONTH_INDEX` is each row's index in `months`.

    The same split, casts and rules decide every line, so its trips and counts are the line-by-line
    read's; only what the quarantine needs is left out (line numbers, the lines' text, worded
    reasons). That is about four times cheaper than Spark's CSV reader on these files (its parser
    converts every field; a split and a cast are compiled code over one string). The months are one
    frame, typed by one projection: planning it costs the driver once, not once per month. The
    header is told by its text, so a caller whose line count differs from `parts.lines - 1` (the
    header repeated inside the file) reads the month again line by line.
    """
    reads = [
        spark.read.option("lineSep", "\n").text(parts.paths).select(F.lit(index).alias(MONTH_INDEX), "value")
        for index, parts in enumerate(months)
    ]
    lines = reduce(DataFrame.union, reads)
    text = lines.select(MONTH_INDEX, F.lit(None).cast("long").alias("line"), without_cr(F.col("value")).alias("text"))
    data = text.where(~F.col("text").isin(*{parts.header for parts in months}))
    return _split_fields(data, color, header, worded=False, keep=(MONTH_INDEX,))


def without_cr(text: Column) -> Column:
    """A line's text without the CR of a CRLF line end (one; cheaper than a regular expression on every line)."""
    return F.when(text.endswith("\r"), text.substr(F.lit(1), F.length(text) - 1)).otherwise(text)


def part_read_settings(parts: LineParts) -> dict[str, str]:
    """SQL settings under which Spark reads each part whole, in a task of its own (no split, no packing)."""
    largest = str(max(parts.largest, 1))
    return {"spark.sql.files.maxPartitionBytes": largest, "spark.sql.files.openCostInBytes": largest}


def parse_trip_lines(lines: DataFrame, color: str, header: list[str]) -> DataFrame:
    """The data lines of `read_numbered_lines`, split into the typed columns the header has (text) plus `_reason`.

    Columns are found by their name in the file's `header`, so a file with columns added after
    the course's, or without some of the course's, still parses. An empty value is NULL, as in
    Spark's CSV reader.
    """
    return _split_fields(lines.where(F.col("line") > 1), color, header, worded=True)


def _split_fields(
    lines: DataFrame, color: str, header: list[str], worded: bool, keep: tuple[str, ...] = ()
) -> DataFrame:
    """`line` and `text` split at commas into the typed columns of `header`, with their reasons (`with_reasons`)."""
    # The split in a projection of its own: every column reads it, Spark splits each line once.
    split = lines.select("line", "text", *keep, F.split(F.col("text"), ",", -1).alias("_fields"))
    fields = F.col("_fields")
    typed_names = file_columns(header, color)
    texts = []
    for index, name in enumerate(header):
        if name in typed_names:
            value = F.element_at(fields, index + 1)
            texts.append(F.when(value != "", value).alias(typed_names[name]))
    count = F.size(fields)
    said = F.format_string(f"%d fields, the header has {len(header)}", count) if worded else F.lit("field count")
    wrong_count = F.when(count != len(header), said)
    return with_reasons(split.select("line", "text", *keep, "_fields", *texts), color, wrong_count, worded, keep)


def timestamp_from_nanos(nanos: Column) -> Column:
    """Nanoseconds since the epoch (a TIMESTAMP(NANOS) read as a long) as a timestamp, floored to the microsecond."""
    return F.timestamp_micros(F.floor(nanos.cast("decimal(20,0)") / 1000).cast("long"))


def parquet_trip_rows(parquet: DataFrame, color: str, nanosecond_columns: Collection[str] = ()) -> DataFrame:
    """The rows of one parquet file (`spark.read.parquet(file)`), numbered, with its typed columns plus `_reason`.

    `line` is the row's 1-based position in the file and `text` the row as JSON (for the
    quarantine); the known columns keep their stored types under their typed names, except the
    `nanosecond_columns` (TIMESTAMP(NANOS), read as longs), which become timestamps.
    """
    parquet = parquet.withColumns({name: timestamp_from_nanos(F.col(f"`{name}`")) for name in nanosecond_columns})
    typed_names = file_columns(parquet.columns, color)
    known = [F.col(f"`{name}`").alias(typed_names[name]) for name in parquet.columns if name in typed_names]
    rows = parquet.select(
        (F.col("_metadata.row_index") + 1).alias("line"),
        F.to_json(F.struct(*(F.col(f"`{name}`") for name in parquet.columns)), {"ignoreNullFields": "false"}).alias(
            "text"
        ),
        *known,
    )
    return with_reasons(rows, color)


def typed_trips(rows: DataFrame, color: str, keep: tuple[str, ...] = ()) -> DataFrame:
    """The trips among `parse_trip_lines` or `parquet_trip_rows`' rows (typed already), in the color's typed schema.

    A typed column the file does not have is NULL. The columns in `keep` follow the typed ones.
    """
    present = set(rows.columns)
    return rows.where(F.col(REASON).isNull()).select(
        [
            (F.col(c.name) if c.name in present else F.lit(None).cast(_SPARK_TYPES[c.type])).alias(c.name)
            for c in typed_columns(color)
        ]
        + [F.col(name) for name in keep]
    )


def quarantined_lines(rows: DataFrame) -> DataFrame:
    """The rows among `parse_trip_lines` or `parquet_trip_rows`' that are not trips: line number, raw text, reason."""
    return rows.where(F.col(REASON).isNotNull()).select("line", "text", F.col(REASON).alias("reason"))


def unparsed_value_counts(rows: DataFrame, color: str) -> list[Column]:
    """Per typed column the rows have (not text), among trips: stored values kept as NULL as not of the type."""
    trip = F.col(REASON).isNull()
    present = set(rows.columns)
    return [
        F.sum(F.when(trip & F.col(UNPARSED + c.name), 1).otherwise(0)).alias(c.name)
        for c in typed_columns(color)
        if UNPARSED + c.name in present
    ]


def unparsed_any(rows: DataFrame) -> Column:
    """True where a row holds any value kept as NULL as not of its column's type (see `unparsed_value_counts`)."""
    flags = [F.col(name) for name in rows.columns if name.startswith(UNPARSED)]
    return reduce(operator.or_, flags) if flags else F.lit(False)


def pickup_outside_month(color: str, start: dt.datetime, end: dt.datetime) -> Column:
    """True for trips whose pickup is not in [start, end) (NULL pickups count as outside)."""
    pickup = F.col(pickup_column(color)).cast("timestamp")
    return ~F.coalesce((pickup >= F.lit(start)) & (pickup < F.lit(end)), F.lit(False))
