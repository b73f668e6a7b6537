"""The course's monthly revenue report (week 5, `spark-sql.py`) as a DataFrame transform."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from functools import reduce

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from taxi_platform.spark.trips import pickup_outside_month
from taxi_platform.tlc.schemas import (
    COMMON_COLUMNS,
    COURSE_REVENUE_COLUMNS,
    REVENUE_COLUMNS,
    REVENUE_SUMS,
    ZONE_NAMES,
    dropoff_column,
    pickup_column,
)
from taxi_platform.tlc.zones import ZONE_ID


def common_trips(trips: DataFrame, color: str) -> DataFrame:
    """Harmonise one color's typed trips to the shared columns plus `service_type`."""
    return (
        trips.withColumnRenamed(pickup_column(color), "pickup_datetime")
        .withColumnRenamed(dropoff_column(color), "dropoff_datetime")
        .select(*COMMON_COLUMNS)
        .withColumn("service_type", F.lit(color))
    )


def revenue_report(trips: DataFrame, color: str, start: dt.datetime, end: dt.datetime, zones: DataFrame) -> DataFrame:
    """Revenue per pickup zone for one month and color, with the pickup zone's names from `zones`.

    Unlike the course SQL, which keeps every pickup and so invents `revenue_month` groups such as
    2008-12, a partition's report keeps only pickups inside [start, end); callers count the rest
    with `pickup_outside_month`.
    """
    return revenue_reports([(trips, color, start, end)], zones)


def revenue_reports(months: Sequence[tuple[DataFrame, str, dt.datetime, dt.datetime]], zones: DataFrame) -> DataFrame:
    """`revenue_report` of many months in one aggregation: each (trips, color, start, end) one month's typed trips.

    Each month's frame says which month it is, so nothing is read from file names (a regular
    expression over `input_file_name()` on every row costs more than the aggregation).
    """
    in_month = [
        common_trips(trips.where(~pickup_outside_month(color, start, end)), color)
        for trips, color, start, end in months
    ]
    return with_zone_names(_revenue(reduce(DataFrame.unionByName, in_month)), zones)


def course_revenue_report(trips_by_color: dict[str, DataFrame], zones: DataFrame | None = None) -> DataFrame:
    """The course's `spark-sql.py` over many months of both colors, with the partitions' rule.

    Each frame must be read straight from parquet files laid out as `.../{YYYY}/{MM}/part-*`: a
    trip counts in the month of the file it came from, and only if its pickup is in that month,
    so the result is exactly the union of the per-partition reports (those carry the zone names
    too when `zones` is given; without it, the course's columns only).
    """
    harmonised = []
    for color, trips in trips_by_color.items():
        pickup_month = F.trunc(F.col(pickup_column(color)), "month")
        harmonised.append(common_trips(trips.where(pickup_month == source_month(F.input_file_name())), color))
    report = _revenue(reduce(DataFrame.unionByName, harmonised))
    return report if zones is None else with_zone_names(report, zones)


def with_zone_names(report: DataFrame, zones: DataFrame) -> DataFrame:
    """The report's columns, then its pickup zone's names (the course's broadcast join, `07_groupby_join`).

    The lookup is a few hundred rows, so it is broadcast to every task rather than shuffled with the
    report; a left join keeps a zone the lookup lacks, with NULL names.
    """
    names = zones.select(ZONE_ID, *(F.col(column).alias(name) for column, name in ZONE_NAMES.items()))
    joined = report.join(F.broadcast(names), report["revenue_zone"] == names[ZONE_ID], "left")
    return joined.select(*(column.name for column in REVENUE_COLUMNS))


MONTH_IN_PATH = r"/(\d{4})/(\d{2})/[^/]+$"


def source_month(path: Column) -> Column:
    """First day of the `{YYYY}/{MM}` folder a file sits in (NULL when the path has none)."""
    year, month = (F.regexp_extract(path, MONTH_IN_PATH, group) for group in (1, 2))
    return F.when(year != "", F.to_date(F.concat_ws("-", year, month, F.lit("01"))))


def _revenue(trips: DataFrame) -> DataFrame:
    """The course's aggregation over harmonised trips."""
    return (
        trips.groupBy(
            F.col("PULocationID").alias("revenue_zone"),
            F.trunc("pickup_datetime", "month").alias("revenue_month"),
            "service_type",
        )
        .agg(
            *[F.sum(column).alias(name) for name, column in REVENUE_SUMS.items()],
            F.avg("passenger_count").alias("avg_monthly_passenger_count"),
            F.avg("trip_distance").alias("avg_monthly_trip_distance"),
        )
        .select(*(column.name for column in COURSE_REVENUE_COLUMNS))
    )
