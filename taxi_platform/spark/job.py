"""spark-submit entry point: the course's `spark-sql.py`, running the same stages as the assets.

The course's call, over many months of both colors (lake layout `.../{YYYY}/{MM}/`):

    spark-submit taxi_platform/spark/job.py \
        --input_green 'data/bucket/pq/green/2021/*/' --input_yellow 'data/bucket/pq/yellow/2021/*/' \
        --output /tmp/report

(add `--zones data/bucket/zones` for the pickup zones' names, as the partitions' reports have them).

One partition's stage, as the assets run it (this is what Dataproc mode submits):

    spark-submit --master spark://127.0.0.1:7077 taxi_platform/spark/job.py \
        revenue --color green --month 2021-01 --input data/bucket/pq/green/2021/01 \
        --zones data/bucket/zones --output /tmp/report

Many months' reports in one job (what a ranged run submits), each month's under
`--output/partition={color}-{YYYY-MM}/`:

    spark-submit taxi_platform/spark/job.py reports --zones data/bucket/zones --output /tmp/reports \
        --months '[{"color": "green", "month": "2021-01", "input": "data/bucket/pq/green/2021/01"}, ...]'

Many months' CSVs typed in one job (what a ranged `typed_trips` submits), each month's trips under
`--output/partition={color}-{YYYY-MM}/` and an empty quarantine under `--output/_empty_quarantine/`;
a month whose lines are not all read whole is left out of the result, to be typed alone:

    spark-submit taxi_platform/spark/job.py typed_range --output gs://bucket/lake/_staging/typed \
        --months '[{"color": "green", "month": "2021-01", "input": "gs://.../green_tripdata_2021_01.csv.gz",
                    "data_lines": 76518}, ...]'

The zone lookup's stage (`taxi_zones`): `job.py zones --input data/raw/zones/taxi_zone_lookup.csv --output ...`.

Paths may be local or `gs://` URIs. The last line printed is the stage's result as JSON (for `reports`,
the results by folder name).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict

from pyspark.sql import SparkSession

from taxi_platform.spark.settings import SESSION_SETTINGS
from taxi_platform.spark.stages import (
    StageResult,
    write_course_report,
    write_revenue_report,
    write_revenue_reports,
    write_taxi_zones,
    write_typed_trips,
    write_typed_trips_range,
)
from taxi_platform.tlc.months import COLORS, TripMonth

STAGES = ("course", "typed", "typed_range", "revenue", "reports", "zones")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="job.py", description=__doc__.splitlines()[0])
    parser.add_argument(
        "stage", nargs="?", default="course", choices=STAGES,
        help="course (default): report over --input_green/--input_yellow; typed: one raw file -> parquet; "
        "typed_range: many months' CSVs -> parquet (--months); "
        "revenue: one partition's report; reports: many partitions' reports (--months); "
        "zones: the zone lookup CSV -> parquet",
    )  # fmt: skip
    parser.add_argument("--input_green", help="course: typed green parquet (glob allowed)")
    parser.add_argument("--input_yellow", help="course: typed yellow parquet (glob allowed)")
    parser.add_argument("--color", choices=COLORS, help="typed/revenue: the partition's color")
    parser.add_argument("--month", help="typed/revenue: the partition's month, YYYY-MM")
    parser.add_argument(
        "--input", help="typed: the raw .csv.gz or .parquet; revenue: the typed parquet folder; zones: the lookup CSV"
    )
    parser.add_argument(
        "--zones", help="revenue and reports (required), course (optional): the typed zones' parquet folder"
    )
    parser.add_argument(
        "--months",
        help='reports: JSON list of {"color", "month", "input"}, one per partition; typed_range: the same with '
        '"data_lines", the raw file\'s data lines',
    )
    parser.add_argument("--output", required=True, help="folder to write; must not exist")
    parser.add_argument(
        "--partitions", type=int, default=4,
        help="typed: parquet files to write (a local CSV's parts, parsed in parallel; a parquet file's splits)",
    )  # fmt: skip
    parser.add_argument("--quarantine", help="typed: folder for the lines that are not trips (must not exist)")
    args = parser.parse_args(argv)
    if args.stage == "course" and not (args.input_green or args.input_yellow):
        parser.error("the course report needs --input_green and/or --input_yellow")
    if args.stage in ("typed", "revenue") and not (args.color and args.month and args.input):
        parser.error(f"the {args.stage} stage needs --color, --month and --input")
    if args.stage in ("revenue", "reports") and not args.zones:
        parser.error(f"the {args.stage} stage needs --zones (the typed zone lookup, published by taxi_zones)")
    if args.stage in ("reports", "typed_range") and not args.months:
        parser.error(f"the {args.stage} stage needs --months")
    if args.stage == "zones" and not args.input:
        parser.error("the zones stage needs --input")
    return args


def run(spark: SparkSession, args: argparse.Namespace) -> StageResult | dict[str, StageResult]:
    if args.stage == "reports":
        months = [(TripMonth.parse(m["color"], m["month"]), m["input"]) for m in json.loads(args.months)]
        return write_revenue_reports(spark, months, args.zones, args.output)
    if args.stage == "typed_range":
        typed = [
            (TripMonth.parse(m["color"], m["month"]), m["input"], int(m["data_lines"])) for m in json.loads(args.months)
        ]
        return write_typed_trips_range(spark, typed, args.output, args.partitions)
    if args.stage == "course":
        inputs = {color: path for color, path in (("green", args.input_green), ("yellow", args.input_yellow)) if path}
        return write_course_report(spark, inputs, args.output, args.zones)
    if args.stage == "zones":
        return write_taxi_zones(spark, args.input, args.output)
    month = TripMonth.parse(args.color, args.month)
    if args.stage == "typed":
        return write_typed_trips(spark, args.input, args.output, month, args.partitions, args.quarantine)
    return write_revenue_report(spark, args.input, args.zones, args.output, month)


def main(argv: list[str] | None = None) -> StageResult | dict[str, StageResult]:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    builder = SparkSession.builder.appName(f"taxi_platform {args.stage}")
    for key, value in SESSION_SETTINGS.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    try:
        result = run(spark, args)
    finally:
        spark.stop()
    if isinstance(result, dict):
        print(json.dumps({folder: asdict(one) for folder, one in result.items()}, default=str), flush=True)
    else:
        print(result.to_json(), flush=True)
    return result


if __name__ == "__main__":
    main()
