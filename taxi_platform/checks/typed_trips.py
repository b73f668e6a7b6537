"""Checks of one typed_trips partition, read back from the lake with pyarrow (no Spark, no JVM).

Schema, row count and null keys are blocking errors: a partition that fails them does not flow on
to the bucket, the report and the warehouse in the same run. Out-of-month pickups only warn.
"""

from collections.abc import Callable
from typing import TYPE_CHECKING

from dagster import AssetCheckExecutionContext, AssetCheckResult, AssetCheckSeverity, MetadataValue, asset_check

from taxi_platform.assets import typed_trips
from taxi_platform.checks.readers import finished_parquet, pickups_in_month
from taxi_platform.partitions import trip_month, trip_partitions
from taxi_platform.resources import LocalLake
from taxi_platform.tlc import TRIP_COLUMNS, inspect_trip_file, pickup_column
from taxi_platform.tlc.months import TripMonth
from taxi_platform.tlc.schemas import ColumnType

if TYPE_CHECKING:
    import pyarrow as pa

OUTSIDE_MONTH_MAX_SHARE = 0.01  # real 2021 files: at most 0.03 % of trips


def _arrow_types() -> dict[ColumnType, Callable[["pa.DataType"], bool]]:
    # pyarrow is imported when a check runs, not at import (definitions import time).
    import pyarrow as pa

    return {
        "int": pa.types.is_int32,
        "double": pa.types.is_float64,
        "timestamp": pa.types.is_timestamp,
        "date": pa.types.is_date32,
        "string": lambda t: pa.types.is_string(t) or pa.types.is_large_string(t),
    }


def typed_trips_check(description: str, blocking: bool = True) -> Callable:
    return asset_check(asset=typed_trips, partitions_def=trip_partitions, blocking=blocking, description=description)


def typed_partition(context: AssetCheckExecutionContext, lake: LocalLake) -> tuple[TripMonth, list[str]]:
    month = trip_month(context)
    return month, finished_parquet(lake, month.typed_path, "typed_trips", month)


@typed_trips_check("The parquet has the course's columns, in order, with the course's types.")
def schema_is_the_course_schema(context: AssetCheckExecutionContext, lake: LocalLake) -> AssetCheckResult:
    import pyarrow.parquet as pq

    month, files = typed_partition(context, lake)
    schema = pq.read_schema(files[0])
    arrow_types = _arrow_types()
    expected = TRIP_COLUMNS[month.color]
    found = {field.name: field.type for field in schema}
    wrong = {
        c.name: str(found.get(c.name, "missing"))
        for c in expected
        if c.name not in found or not arrow_types[c.type](found[c.name])
    }
    in_order = [field.name for field in schema] == [c.name for c in expected]
    return AssetCheckResult(
        passed=not wrong and in_order,
        metadata={"columns": len(schema), "wrong_types": wrong, "columns_in_course_order": in_order},
    )


@typed_trips_check("The parquet holds rows, exactly as many as the raw CSV has data lines.")
def rows_match_raw_file(context: AssetCheckExecutionContext, lake: LocalLake) -> AssetCheckResult:
    import pyarrow.parquet as pq

    month, files = typed_partition(context, lake)
    raw = lake.path(month.raw_path)
    rows = sum(pq.read_metadata(path).num_rows for path in files)
    raw_rows = inspect_trip_file(raw, month.color).rows if raw.is_file() else None
    return AssetCheckResult(
        passed=rows > 0 and rows == raw_rows,
        metadata={"parquet_rows": rows, "raw_rows": raw_rows if raw_rows is not None else "raw file missing"},
    )


@typed_trips_check("No trip lacks its pickup time, pickup zone or drop-off zone.")
def no_null_pickup_or_zones(context: AssetCheckExecutionContext, lake: LocalLake) -> AssetCheckResult:
    import pyarrow.parquet as pq

    month, files = typed_partition(context, lake)
    columns = [pickup_column(month.color), "PULocationID", "DOLocationID"]
    nulls = {name: pq.read_table(files, columns=[name]).column(name).null_count for name in columns}
    return AssetCheckResult(passed=not any(nulls.values()), metadata={"nulls_by_column": nulls})


@typed_trips_check(f"Fewer than {OUTSIDE_MONTH_MAX_SHARE:.0%} of the trips pick up outside the month.", blocking=False)
def few_pickups_outside_month(context: AssetCheckExecutionContext, lake: LocalLake) -> AssetCheckResult:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    month, files = typed_partition(context, lake)
    pickups = pq.read_table(files, columns=[pickup_column(month.color)]).column(0)
    outside = len(pickups) - pc.sum(pickups_in_month(pickups, month).cast(pa.int64())).as_py()
    share = outside / len(pickups) if len(pickups) else 0.0
    return AssetCheckResult(
        passed=share < OUTSIDE_MONTH_MAX_SHARE,
        severity=AssetCheckSeverity.WARN,
        metadata={
            "pickups_outside_month": outside,
            "trips": len(pickups),
            "share": MetadataValue.float(share),
            "threshold": OUTSIDE_MONTH_MAX_SHARE,
        },
    )


typed_trips_checks = [
    schema_is_the_course_schema,
    rows_match_raw_file,
    no_null_pickup_or_zones,
    few_pickups_outside_month,
]
