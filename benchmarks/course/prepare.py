"""The course's prepare step under spark-submit: raw CSV -> parquet with the course's explicit schema.

    spark-submit benchmarks/course/prepare.py --lake DIR green:2021-01 [yellow:2021-01 ...]

Like the course's `05_taxi_schema` notebook: read each month's `raw/{color}/{YYYY}/{MM}/*.csv.gz` with
`schema=` (IntegerType, TimestampType, DoubleType), `repartition(4)`, write `pq/{color}/{YYYY}/{MM}/`.
Every month named is done in this one Spark application.
"""

from __future__ import annotations

import argparse

from pyspark.sql import SparkSession

from taxi_platform.spark.trips import trip_schema


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lake", required=True)
    parser.add_argument("months", nargs="+", help="color:YYYY-MM")
    args = parser.parse_args()
    spark = SparkSession.builder.appName("course prepare").getOrCreate()
    for item in args.months:
        color, month = item.split(":")
        year, mm = month.split("-")
        trips = (
            spark.read.option("header", "true").schema(trip_schema(color)).csv(f"{args.lake}/raw/{color}/{year}/{mm}/")
        )
        trips.repartition(4).write.parquet(f"{args.lake}/pq/{color}/{year}/{mm}/", mode="overwrite")
    spark.stop()


if __name__ == "__main__":
    main()
