"""The course's explicit schema per color, and the columns the colors share.

Types are named, not Spark objects, so this layer imports no engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ColumnType = Literal["int", "double", "timestamp", "date", "string"]


@dataclass(frozen=True)
class TripColumn:
    name: str
    type: ColumnType


def _columns(spec: str) -> tuple[TripColumn, ...]:
    return tuple(TripColumn(*item.split(":")) for item in spec.split())  # type: ignore[arg-type]


# Column order is the order of the header in the monthly CSV files.
TRIP_COLUMNS: dict[str, tuple[TripColumn, ...]] = {
    "green": _columns(
        "VendorID:int lpep_pickup_datetime:timestamp lpep_dropoff_datetime:timestamp "
        "store_and_fwd_flag:string RatecodeID:int PULocationID:int DOLocationID:int "
        "passenger_count:int trip_distance:double fare_amount:double extra:double mta_tax:double "
        "tip_amount:double tolls_amount:double ehail_fee:double improvement_surcharge:double "
        "total_amount:double payment_type:int trip_type:int congestion_surcharge:double"
    ),
    "yellow": _columns(
        "VendorID:int tpep_pickup_datetime:timestamp tpep_dropoff_datetime:timestamp "
        "passenger_count:int trip_distance:double RatecodeID:int store_and_fwd_flag:string "
        "PULocationID:int DOLocationID:int payment_type:int fare_amount:double extra:double "
        "mta_tax:double tip_amount:double tolls_amount:double improvement_surcharge:double "
        "total_amount:double congestion_surcharge:double"
    ),
}

# Columns the TLC added to its files after the course's: nullable columns at the end of the typed schema, so
# every month of a color (CSV from the release or parquet from the feed, of any year) reads as one dataset.
ADDED_COLUMNS: dict[str, tuple[TripColumn, ...]] = {
    "green": _columns("cbd_congestion_fee:double"),
    "yellow": _columns("airport_fee:double cbd_congestion_fee:double"),
}

_PICKUP_PREFIX = {"green": "lpep", "yellow": "tpep"}


def typed_columns(color: str) -> tuple[TripColumn, ...]:
    """The typed schema of a color: the course's columns, then the ones the TLC added."""
    return TRIP_COLUMNS[color] + ADDED_COLUMNS[color]


def required_columns(color: str) -> tuple[str, ...]:
    """A trip without one of these cannot be placed in a month and a zone: a file must have them all."""
    return (pickup_column(color), "PULocationID", "DOLocationID")


def file_columns(names: list[str], color: str) -> dict[str, str]:
    """The typed column each of a file's columns is, matched without case (`Airport_fee` is `airport_fee`)."""
    by_key = {column.name.lower(): column.name for column in typed_columns(color)}
    return {name: by_key[name.lower()] for name in names if name.lower() in by_key}


def pickup_column(color: str) -> str:
    return f"{_PICKUP_PREFIX[color]}_pickup_datetime"


def dropoff_column(color: str) -> str:
    return f"{_PICKUP_PREFIX[color]}_dropoff_datetime"


def header_of(color: str) -> list[str]:
    return [column.name for column in TRIP_COLUMNS[color]]


# The columns both colors share once lpep_/tpep_ timestamps are renamed (course: `common_colums`).
COMMON_COLUMNS: tuple[str, ...] = (
    "VendorID", "pickup_datetime", "dropoff_datetime", "store_and_fwd_flag", "RatecodeID",
    "PULocationID", "DOLocationID", "passenger_count", "trip_distance", "fare_amount", "extra",
    "mta_tax", "tip_amount", "tolls_amount", "improvement_surcharge", "total_amount",
    "payment_type", "congestion_surcharge",
)  # fmt: skip

# Revenue report column -> the trip column it sums, named as in the course.
REVENUE_SUMS: dict[str, str] = {
    "revenue_monthly_fare": "fare_amount",
    "revenue_monthly_extra": "extra",
    "revenue_monthly_mta_tax": "mta_tax",
    "revenue_monthly_tip_amount": "tip_amount",
    "revenue_monthly_tolls_amount": "tolls_amount",
    "revenue_monthly_improvement_surcharge": "improvement_surcharge",
    "revenue_monthly_total_amount": "total_amount",
    "revenue_monthly_congestion_surcharge": "congestion_surcharge",
}

# The course's revenue report, in order (`spark-sql.py`).
COURSE_REVENUE_COLUMNS: tuple[TripColumn, ...] = (
    TripColumn("revenue_zone", "int"),
    TripColumn("revenue_month", "date"),
    TripColumn("service_type", "string"),
    *(TripColumn(name, "double") for name in REVENUE_SUMS),
    TripColumn("avg_monthly_passenger_count", "double"),
    TripColumn("avg_monthly_trip_distance", "double"),
)

# Zone lookup column (`tlc/zones.py`) -> the report column naming the pickup zone (`revenue_zone`) with it.
ZONE_NAMES: dict[str, str] = {"Borough": "borough", "Zone": "zone", "service_zone": "service_zone"}

# The revenue report, in order: what Spark writes and what the warehouse table holds. The pickup zone's
# names come after the course's columns, NULL for an id the lookup lacks.
REVENUE_COLUMNS: tuple[TripColumn, ...] = (
    *COURSE_REVENUE_COLUMNS,
    *(TripColumn(name, "string") for name in ZONE_NAMES.values()),
)
