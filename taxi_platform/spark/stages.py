"""The Spark stages with their I/O edges: read, transform, write, and what was observed.

Used by the Dagster assets in-process and by `taxi_platform.spark.job` under spark-submit.
Each writes to the directory it is given; making that write atomic is the caller's job.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from pyspark.sql import DataFrame, Observation, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from taxi_platform.spark.revenue import MONTH_IN_PATH, course_revenue_report, revenue_report
from taxi_platform.spark.trips import (
    QUARANTINE_SCHEMA,
    REASON,
    parse_trip_lines,
    pickup_outside_month,
    quarantined_lines,
    read_numbered_lines,
    struct_type,
    typed_trips,
    unparsed_value_counts,
)
from taxi_platform.tlc.months import TripMonth
from taxi_platform.tlc.validation import header_names
from taxi_platform.tlc.zones import ZONE_COLUMNS, ZONE_ID

PREVIEW_ROWS = 10


@dataclass(frozen=True)
class StageResult:
    """What a stage wrote, in plain values: it travels as JSON from a submitted job's driver."""

    rows: int
    columns: list[tuple[str, str]]  # (name, Spark simple type) of what was written
    observed: dict[str, Any] = field(default_factory=dict)
    preview: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self), default=str)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> StageResult:
        return cls(
            rows=int(values["rows"]),
            columns=[(name, kind) for name, kind in values["columns"]],
            observed=values.get("observed", {}),
            preview=values.get("preview", []),
        )


def _columns(schema: T.StructType) -> list[tuple[str, str]]:
    return [(f.name, f.dataType.simpleString()) for f in schema.fields]


def write_typed_trips(
    spark: SparkSession,
    csv_path: str,
    output: str,
    trip_month: TripMonth,
    partitions: int = 4,
    quarantine_output: str | None = None,
) -> StageResult:
    """Parse one raw monthly CSV with the color's schema: trips to `output`, the rest to `quarantine_output`.

    One pass over the file writes the trips and observes the counts (lines, quarantined lines,
    numbers kept as NULL, out-of-month pickups); a second pass writes the quarantine, only when there
    is something to quarantine (an empty quarantine is written without reading the file again).
    """
    color = trip_month.color
    header = header_names(spark.read.text(csv_path).first()[0])
    parsed = parse_trip_lines(read_numbered_lines(spark, csv_path), color, header)
    trip = F.col(REASON).isNull()
    observation = Observation(f"typed_trips {trip_month.label}")
    observed_parsed = parsed.observe(
        observation,
        F.count(F.lit(1)).alias("lines"),
        F.sum((~trip).cast("int")).alias("quarantined"),
        *unparsed_value_counts(color),
        F.sum((trip & pickup_outside_month(color, trip_month.start, trip_month.end)).cast("int")).alias(
            "pickups_outside_month"
        ),
    )
    trips = typed_trips(observed_parsed, color)
    trips.repartition(partitions).write.parquet(output)
    observed = dict(observation.get)
    lines = int(observed.pop("lines"))
    quarantined = int(observed.pop("quarantined") or 0)
    outside = int(observed.pop("pickups_outside_month") or 0)
    unparsed = {name: int(count or 0) for name, count in observed.items()}
    if quarantine_output is not None:
        bad = quarantined_lines(parsed) if quarantined else spark.createDataFrame([], QUARANTINE_SCHEMA)
        bad.orderBy("line").coalesce(1).write.parquet(quarantine_output)
    return StageResult(
        rows=lines - quarantined,
        columns=_columns(trips.schema),
        observed={
            "data_lines": lines,
            "quarantined_lines": quarantined,
            "pickups_outside_month": outside,
            "unparsed_values": unparsed,
        },
    )


def write_taxi_zones(spark: SparkSession, csv_path: str, output: str) -> StageResult:
    """Type the zone lookup (a checked CSV) with its explicit schema into one parquet file."""
    zones = spark.read.csv(csv_path, header=True, schema=struct_type(ZONE_COLUMNS), mode="FAILFAST")
    # 265 rows: one file, cached so the count and the preview do not read the file again.
    zones = zones.orderBy(ZONE_ID).cache()
    try:
        zones.coalesce(1).write.parquet(output)
        return StageResult(
            rows=zones.count(),
            columns=_columns(zones.schema),
            preview=[row.asDict() for row in zones.limit(PREVIEW_ROWS).collect()],
        )
    finally:
        zones.unpersist()


def write_revenue_report(
    spark: SparkSession, trips_path: str, zones_path: str, output: str, trip_month: TripMonth
) -> StageResult:
    """Build the month's revenue report from typed trips and the typed zones; count the pickups it leaves out."""
    color = trip_month.color
    observation = Observation(f"revenue_report {trip_month.label}")
    outside = pickup_outside_month(color, trip_month.start, trip_month.end)
    trips = spark.read.parquet(trips_path).observe(
        observation,
        F.count(F.lit(1)).alias("trips"),
        F.sum(outside.cast("int")).alias("pickups_outside_month"),
        F.sum(F.when(~outside, F.col("total_amount"))).alias("in_month_total_amount"),
    )
    zones = spark.read.parquet(zones_path)
    # A few hundred rows: keep them cached so counts and the preview do not recompute the month.
    report = revenue_report(trips, color, trip_month.start, trip_month.end, zones).orderBy("revenue_zone").cache()
    try:
        report.coalesce(1).write.parquet(output)
        observed = observation.get
        return StageResult(
            rows=report.count(),
            columns=_columns(report.schema),
            observed={
                "trips": int(observed["trips"]),
                "pickups_outside_month": int(observed["pickups_outside_month"] or 0),
                "in_month_total_amount": observed["in_month_total_amount"],
                "report_total_amount": report.agg(F.sum("revenue_monthly_total_amount")).first()[0],
                "zones_without_names": report.where(F.col("zone").isNull()).count(),
            },
            preview=_top_rows(report, "revenue_monthly_total_amount"),
        )
    finally:
        report.unpersist()


def write_course_report(
    spark: SparkSession, inputs: dict[str, str], output: str, zones_path: str | None = None
) -> StageResult:
    """The course's report over many months of typed parquet per color (`spark-sql.py`), with zone names if given."""
    trips_by_color = {}
    for color, pattern in inputs.items():
        trips = spark.read.parquet(*visible_paths(spark, pattern))
        undated = [name for name in trips.inputFiles() if not re.search(MONTH_IN_PATH, name)]
        if undated:
            raise ValueError(
                f"{undated[0]}: not in a `{{YYYY}}/{{MM}}/` folder, so its month is unknown "
                f"(--input_{color} must point at the lake layout, e.g. .../pq/{color}/*/*/)"
            )
        trips_by_color[color] = trips
    zones = spark.read.parquet(zones_path) if zones_path else None
    report = course_revenue_report(trips_by_color, zones)
    report = report.orderBy("revenue_month", "service_type", "revenue_zone").cache()
    try:
        report.coalesce(1).write.parquet(output)
        return StageResult(
            rows=report.count(),
            columns=_columns(report.schema),
            observed={
                "months": [r[0] for r in report.select("revenue_month").distinct().orderBy("revenue_month").collect()]
            },
            preview=_top_rows(report, "revenue_monthly_total_amount"),
        )
    finally:
        report.unpersist()


def visible_paths(spark: SparkSession, pattern: str) -> list[str]:
    """Expand a glob the way Spark lists folders: without hidden (`.x`, `_x`) matches.

    The lake keeps its versions and staging out of the zones (`resources/lake.py`), so a plain
    `spark.read.parquet(pattern)` is right on its own; this is protection against hidden folders
    others leave in a zone (Hadoop's glob matches them), e.g. a lake not yet migrated from the
    previous layout, whose `.MM.v-*` versions sat beside each partition's link.
    """
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(pattern)
    statuses = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()).globStatus(path) or []
    wild = [i for i, part in enumerate(pattern.rstrip("/").split("/")) if any(c in part for c in "*?[{")]
    visible = []
    for status in statuses:
        parts = status.getPath().toString().rstrip("/").split("/")
        offset = len(parts) - len(pattern.rstrip("/").split("/"))
        if not any(parts[i + offset].startswith((".", "_")) for i in wild):
            visible.append(status.getPath().toString())
    if not visible:
        raise FileNotFoundError(f"{pattern}: matches no folder")
    return visible


def _top_rows(frame: DataFrame, by: str) -> list[dict[str, Any]]:
    return [row.asDict() for row in frame.orderBy(F.col(by).desc_nulls_last()).limit(PREVIEW_ROWS).collect()]
