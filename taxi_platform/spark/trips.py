"""Raw CSV lines -> typed trips with the course's explicit schema per color, and the lines that cannot be trips.

The file is read as numbered lines, so a row that cannot be parsed keeps its line number and its raw
text on its way to the partition's quarantine. What is bad is decided per column:

- a line without the header's number of fields;
- a pickup time, pickup zone or drop-off zone that is missing, or a timestamp that is not one
  (`2021-13-45 25:61:00`);
- text where a number belongs (`abc` as a fare).

Everything else is a trip: empty values are NULL (about 44 % of green 2021 rows have no VendorID),
and an integer column accepts `1` and `1.0`; a number that is not an integer (`1.5`) is kept as NULL
and counted, since the row itself is sound.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from taxi_platform.tlc.schemas import TRIP_COLUMNS, ColumnType, TripColumn, pickup_column

_SPARK_TYPES: dict[ColumnType, T.DataType] = {
    "int": T.IntegerType(),
    "double": T.DoubleType(),
    "timestamp": T.TimestampType(),
    "date": T.DateType(),
    "string": T.StringType(),
}
_INT_MAX = 2**31 - 1
# The quarantine's columns: where the line was, what it said, why it is not a trip.
QUARANTINE_SCHEMA = T.StructType(
    [
        T.StructField("line", T.LongType(), False),
        T.StructField("text", T.StringType(), True),
        T.StructField("reason", T.StringType(), False),
    ]
)
REASON = "_reason"  # NULL for a trip, else why the line is quarantined


def struct_type(columns: tuple[TripColumn, ...]) -> T.StructType:
    """Named columns (`tlc/`) as a Spark StructType, every column nullable."""
    return T.StructType([T.StructField(c.name, _SPARK_TYPES[c.type], True) for c in columns])


def trip_schema(color: str) -> T.StructType:
    """The course's schema for a color, as a Spark StructType."""
    return struct_type(TRIP_COLUMNS[color])


def required_columns(color: str) -> tuple[str, ...]:
    """A trip without one of these is not a trip: it could not be placed in a month or a zone."""
    return (pickup_column(color), "PULocationID", "DOLocationID")


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


def _number(text: Column) -> Column:
    return text.cast("double")


def _as_int(text: Column) -> Column:
    """`1` and `1.0` both become 1; `1.5` or an out-of-range value becomes NULL (and is counted)."""
    number = _number(text)
    return F.when((number == F.floor(number)) & (F.abs(number) <= _INT_MAX), number.cast("int"))


def _typed(text: Column, column_type: ColumnType) -> Column:
    if column_type == "int":
        return _as_int(text)
    if column_type == "string":
        return text
    return text.cast(column_type)


def _not_what_it_claims(text: Column, column: TripColumn) -> Column:
    """True where a present value is not of its column's kind: text for a number, a non-timestamp."""
    if column.type in ("int", "double"):
        return text.isNotNull() & _number(text).isNull()
    if column.type in ("timestamp", "date"):
        return text.isNotNull() & text.cast(column.type).isNull()
    return F.lit(False)


def parse_trip_lines(lines: DataFrame, color: str, header: list[str]) -> DataFrame:
    """The data lines of `read_numbered_lines`, split into the color's columns (text) plus `_reason`.

    Columns are found by their name in the file's `header`, so a file with columns added after
    the course's still parses. An empty value is NULL, as in Spark's CSV reader.
    """
    fields = F.split(F.col("text"), ",", -1)
    columns = TRIP_COLUMNS[color]
    texts = {}
    for column in columns:
        value = F.element_at(fields, header.index(column.name) + 1)
        texts[column.name] = F.when(value != "", value)
    reasons = [
        F.when(
            F.size(fields) != len(header), F.format_string(f"%d fields, the header has {len(header)}", F.size(fields))
        )
    ]
    reasons += [F.when(texts[name].isNull(), F.lit(f"no {name}")) for name in required_columns(color)]
    reasons += [
        F.when(_not_what_it_claims(texts[c.name], c), F.concat(F.lit(f"{c.name} is not a {c.type}: "), texts[c.name]))
        for c in columns
    ]
    return lines.where(F.col("line") > 1).select(
        "line", "text", *(texts[c.name].alias(c.name) for c in columns), F.coalesce(*reasons).alias(REASON)
    )


def typed_trips(parsed: DataFrame, color: str) -> DataFrame:
    """The trips among `parse_trip_lines`' rows, cast to the course's types, in the course's order."""
    return parsed.where(F.col(REASON).isNull()).select(
        [_typed(F.col(c.name), c.type).alias(c.name) for c in TRIP_COLUMNS[color]]
    )


def quarantined_lines(parsed: DataFrame) -> DataFrame:
    """The lines among `parse_trip_lines`' rows that are not trips: line number, raw text, reason."""
    return parsed.where(F.col(REASON).isNotNull()).select("line", "text", F.col(REASON).alias("reason"))


def unparsed_value_counts(color: str) -> list[Column]:
    """Per typed column, among trips: numbers kept as NULL because they are not of the type (`1.5` as an id)."""
    trip = F.col(REASON).isNull()
    return [
        F.sum(F.when(trip & F.col(c.name).isNotNull() & _typed(F.col(c.name), c.type).isNull(), 1).otherwise(0)).alias(
            c.name
        )
        for c in TRIP_COLUMNS[color]
        if c.type != "string"
    ]


def pickup_outside_month(color: str, start: dt.datetime, end: dt.datetime) -> Column:
    """True for trips whose pickup is not in [start, end) (NULL pickups count as outside)."""
    pickup = F.col(pickup_column(color)).cast("timestamp")
    return ~F.coalesce((pickup >= F.lit(start)) & (pickup < F.lit(end)), F.lit(False))
