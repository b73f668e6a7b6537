"""Raw CSV -> typed trips, following the course's explicit schema per color."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from taxi_platform.tlc.schemas import TRIP_COLUMNS, ColumnType, pickup_column

_SPARK_TYPES: dict[ColumnType, T.DataType] = {
    "int": T.IntegerType(),
    "double": T.DoubleType(),
    "timestamp": T.TimestampType(),
    "date": T.DateType(),
    "string": T.StringType(),
}
_INT_MAX = 2**31 - 1


def trip_schema(color: str) -> T.StructType:
    """The course's schema for a color, as a Spark StructType."""
    return T.StructType([T.StructField(c.name, _SPARK_TYPES[c.type], True) for c in TRIP_COLUMNS[color]])


def read_raw_trips(spark: SparkSession, path: str, color: str) -> DataFrame:
    """Read every column as text: typing happens in `typed_trips`, where `1.0` can survive."""
    text_schema = T.StructType([T.StructField(c.name, T.StringType(), True) for c in TRIP_COLUMNS[color]])
    return spark.read.csv(path, header=True, schema=text_schema, mode="PERMISSIVE")


def _as_int(text: Column) -> Column:
    """`1` and `1.0` both become 1; `1.5` or an out-of-range value becomes NULL (and is counted)."""
    number = text.cast("double")
    return F.when((number == F.floor(number)) & (F.abs(number) <= _INT_MAX), number.cast("int"))


def _typed(text: Column, column_type: ColumnType) -> Column:
    if column_type == "int":
        return _as_int(text)
    if column_type == "string":
        return text
    return text.cast(column_type)


def typed_trips(raw: DataFrame, color: str) -> DataFrame:
    """Cast the text columns of `read_raw_trips` to the course's types, keeping every row."""
    return raw.select([_typed(F.col(c.name), c.type).alias(c.name) for c in TRIP_COLUMNS[color]])


def unparsed_value_counts(color: str) -> list[Column]:
    """Per typed column: values present in the text but not parseable as the column's type."""
    return [
        F.sum(F.when(F.col(c.name).isNotNull() & _typed(F.col(c.name), c.type).isNull(), 1).otherwise(0)).alias(c.name)
        for c in TRIP_COLUMNS[color]
        if c.type != "string"
    ]


def pickup_outside_month(color: str, start: dt.datetime, end: dt.datetime) -> Column:
    """True for trips whose pickup is not in [start, end) (NULL pickups count as outside)."""
    pickup = F.col(pickup_column(color)).cast("timestamp")
    return ~F.coalesce((pickup >= F.lit(start)) & (pickup < F.lit(end)), F.lit(False))
