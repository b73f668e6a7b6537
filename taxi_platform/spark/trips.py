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
from collections.abc import Collection

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

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
    """
    if column_type == "int":
        if isinstance(source, _INTEGERS):
            return F.when(value.between(_INT_MIN, _INT_MAX), value.cast("int"))
        number = value.cast("double")
        return F.when((number == F.floor(number)) & number.between(_INT_MIN, _INT_MAX), number.cast("int"))
    return value.cast(_SPARK_TYPES[column_type])


def _not_what_it_claims(value: Column, source: T.DataType, column: TripColumn) -> Column:
    """True where a present text value is not of its column's kind: text for a number, a non-timestamp."""
    if not isinstance(source, T.StringType) or column.type == "string":
        return F.lit(False)
    if column.type in ("int", "double"):
        return value.isNotNull() & value.cast("double").isNull()
    return value.isNotNull() & value.cast(column.type).isNull()


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


def with_reasons(rows: DataFrame, color: str, first_reason: Column | None = None) -> DataFrame:
    """`rows` (line, text and stored values under typed names) plus `_reason`: NULL for a trip."""
    stored = _stored(rows, color)
    kinds = {column.name: (column, source) for column, source in stored}
    missing = [name for name in required_columns(color) if name not in kinds]
    if missing:
        raise UnreadableColumn(f"has no {missing[0]} column, which every {color} trip needs")
    reasons = [first_reason] if first_reason is not None else []
    for name in required_columns(color):
        column, source = kinds[name]
        value = F.col(name)
        reasons.append(F.when(value.isNull(), F.lit(f"no {name}")))
        reasons.append(
            F.when(
                typed_value(value, source, column.type).isNull(),
                F.concat(F.lit(f"{name} is not a {column.type}: "), value.cast("string")),
            )
        )
    reasons += [
        F.when(
            _not_what_it_claims(F.col(c.name), source, c),
            F.concat(F.lit(f"{c.name} is not a {c.type}: "), F.col(c.name)),
        )
        for c, source in stored
    ]
    return rows.withColumn(REASON, F.coalesce(*reasons))


def read_numbered_lines(spark: SparkSession, path: str) -> DataFrame:
    """`line` (1-based, the header is line 1) and `text` (without its CR) of every line of a text file.

    A gzip file is one partition, so the row order within it is the file's; for a file Spark splits,
    each split's first line number comes from the counts of the splits before it.
    """
    lines = spark.read.text(path).select(
        F.spark_partition_id().alias("_split"),
        F.monotonically_increasing_id().alias("_id"),
        F.regexp_replace("value", "\r$", "").alias("text"),
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


def parse_trip_lines(lines: DataFrame, color: str, header: list[str]) -> DataFrame:
    """The data lines of `read_numbered_lines`, split into the typed columns the header has (text) plus `_reason`.

    Columns are found by their name in the file's `header`, so a file with columns added after
    the course's, or without some of the course's, still parses. An empty value is NULL, as in
    Spark's CSV reader.
    """
    fields = F.split(F.col("text"), ",", -1)
    typed_names = file_columns(header, color)
    texts = []
    for index, name in enumerate(header):
        if name in typed_names:
            value = F.element_at(fields, index + 1)
            texts.append(F.when(value != "", value).alias(typed_names[name]))
    wrong_count = F.when(
        F.size(fields) != len(header), F.format_string(f"%d fields, the header has {len(header)}", F.size(fields))
    )
    return with_reasons(lines.where(F.col("line") > 1).select("line", "text", *texts), color, wrong_count)


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


def typed_trips(rows: DataFrame, color: str) -> DataFrame:
    """The trips among `parse_trip_lines` or `parquet_trip_rows`' rows, in the color's typed schema.

    A typed column the file does not have is NULL.
    """
    stored = {c.name: source for c, source in _stored(rows, color)}
    return rows.where(F.col(REASON).isNull()).select(
        [
            (
                typed_value(F.col(c.name), stored[c.name], c.type)
                if c.name in stored
                else F.lit(None).cast(_SPARK_TYPES[c.type])
            ).alias(c.name)
            for c in typed_columns(color)
        ]
    )


def quarantined_lines(rows: DataFrame) -> DataFrame:
    """The rows among `parse_trip_lines` or `parquet_trip_rows`' that are not trips: line number, raw text, reason."""
    return rows.where(F.col(REASON).isNotNull()).select("line", "text", F.col(REASON).alias("reason"))


def unparsed_value_counts(rows: DataFrame, color: str) -> list[Column]:
    """Per typed column the rows have (not text), among trips: stored values kept as NULL as not of the type."""
    trip = F.col(REASON).isNull()
    stored = {c.name: source for c, source in _stored(rows, color)}
    counts = []
    for c in typed_columns(color):
        if c.type != "string" and c.name in stored:
            unparsed = trip & F.col(c.name).isNotNull() & typed_value(F.col(c.name), stored[c.name], c.type).isNull()
            counts.append(F.sum(F.when(unparsed, 1).otherwise(0)).alias(c.name))
    return counts


def pickup_outside_month(color: str, start: dt.datetime, end: dt.datetime) -> Column:
    """True for trips whose pickup is not in [start, end) (NULL pickups count as outside)."""
    pickup = F.col(pickup_column(color)).cast("timestamp")
    return ~F.coalesce((pickup >= F.lit(start)) & (pickup < F.lit(end)), F.lit(False))
