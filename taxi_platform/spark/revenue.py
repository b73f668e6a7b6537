"""The course's monthly revenue report (week 5, `spark-sql.py`) as a DataFrame transform."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from taxi_platform.spark.trips import pickup_outside_month
from taxi_platform.tlc.schemas import dropoff_column, pickup_column

# The columns both colors share, after renaming lpep_/tpep_ timestamps (course: `common_colums`).
COMMON_COLUMNS = [
    "VendorID", "pickup_datetime", "dropoff_datetime", "store_and_fwd_flag", "RatecodeID",
    "PULocationID", "DOLocationID", "passenger_count", "trip_distance", "fare_amount", "extra",
    "mta_tax", "tip_amount", "tolls_amount", "improvement_surcharge", "total_amount",
    "payment_type", "congestion_surcharge",
]  # fmt: skip

# Report column -> summed trip column, named as in the course.
REVENUE_SUMS = {
    "revenue_monthly_fare": "fare_amount",
    "revenue_monthly_extra": "extra",
    "revenue_monthly_mta_tax": "mta_tax",
    "revenue_monthly_tip_amount": "tip_amount",
    "revenue_monthly_tolls_amount": "tolls_amount",
    "revenue_monthly_improvement_surcharge": "improvement_surcharge",
    "revenue_monthly_total_amount": "total_amount",
    "revenue_monthly_congestion_surcharge": "congestion_surcharge",
}


def common_trips(trips: DataFrame, color: str) -> DataFrame:
    """Harmonise one color's typed trips to the shared columns plus `service_type`."""
    return (
        trips.withColumnRenamed(pickup_column(color), "pickup_datetime")
        .withColumnRenamed(dropoff_column(color), "dropoff_datetime")
        .select(COMMON_COLUMNS)
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
    )
