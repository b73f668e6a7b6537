"""spark-submit entry point: the course's `spark-sql.py`, running the same stages as the assets.

    spark-submit --master spark://127.0.0.1:7077 taxi_platform/spark/job.py \
        revenue --color green --month 2021-01 --input data/bucket/pq/green/2021/01 --output /tmp/report

The last line printed is a JSON summary (rows and observed counts) for whoever submitted the job.
"""

from __future__ import annotations

import argparse
import json
import sys

from pyspark.sql import SparkSession

from taxi_platform.spark.settings import SESSION_SETTINGS
from taxi_platform.spark.stages import write_revenue_report, write_typed_trips
from taxi_platform.tlc.months import COLORS, TripMonth


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="taxi_platform.spark.job", description=__doc__.splitlines()[0])
    parser.add_argument("stage", choices=["typed", "revenue"], help="typed: CSV -> parquet; revenue: the report")
    parser.add_argument("--color", required=True, choices=COLORS)
    parser.add_argument("--month", required=True, help="YYYY-MM")
    parser.add_argument("--input", required=True, help="raw .csv.gz (typed) or typed parquet folder (revenue)")
    parser.add_argument("--output", required=True, help="folder to write; must not exist")
    parser.add_argument("--partitions", type=int, default=4, help="parquet files (typed stage)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    month = TripMonth.parse(args.color, args.month)
    builder = SparkSession.builder.appName(f"taxi_platform {args.stage} {month.label}")
    for key, value in SESSION_SETTINGS.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    try:
        if args.stage == "typed":
            result = write_typed_trips(spark, args.input, args.output, month, args.partitions)
        else:
            result = write_revenue_report(spark, args.input, args.output, month)
    finally:
        spark.stop()
    summary = {"stage": args.stage, "partition": month.label, "rows": result.rows, **result.observed}
    print(json.dumps(summary, default=str), flush=True)
    return summary


if __name__ == "__main__":
    main()
