"""The course's monthly revenue report (week 5, `spark-sql.py`) as a DataFrame transform."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from taxi_platform.spark.trips import pickup_outside_month
from taxi_platform.tlc.schemas import COMMON_COLUMNS, REVENUE_COLUMNS, REVENUE_SUMS, dropoff_column, pickup_column


def common_trips(trips: DataFrame, color: str) -> DataFrame:
    """Harmonise one color's typed trips to the shared columns plus `service_type`."""
    return (
        trips.withColumnRenamed(pickup_column(color), "pickup_datetime")
        .withColumnRenamed(dropoff_column(color), "dropoff_datetime")
        .select(*COMMON_COLUMNS)
        .withColumn("service_type", F.lit(color))
    )


def revenue_report(trips: DataFrame, color: str, start: dt.datetime, end: dt.datetime) -> DataFrame:
    """Revenue per pickup zone for one month and color.

    Unlike the course SQL, which keeps every pickup and so invents `revenue_month` groups such as
    2008-12, a partition's report keeps only pickups inside [start, end); callers count the rest
    with `pickup_outside_month`.
    """
    in_month = trips.where(~pickup_outside_month(color, start, end))
    return (
        common_trips(in_month, color)
        .groupBy(
            F.col("PULocationID").alias("revenue_zone"),
            F.trunc("pickup_datetime", "month").alias("revenue_month"),
            "service_type",
        )
        .agg(
            *[F.sum(column).alias(name) for name, column in REVENUE_SUMS.items()],
            F.avg("passenger_count").alias("avg_monthly_passenger_count"),
            F.avg("trip_distance").alias("avg_monthly_trip_distance"),
        )
        .select(*(column.name for column in REVENUE_COLUMNS))
    )
