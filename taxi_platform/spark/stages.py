"""The Spark stages with their I/O edges: read, transform, write, and what was observed.

Used by the Dagster assets in-process and by `taxi_platform.spark.job` under spark-submit.
Each writes to the directory it is given; making that write atomic is the caller's job.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from functools import reduce
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from pyspark.sql import DataFrame, Observation, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from taxi_platform.spark.jvm import file_size, glob, parquet_columns
from taxi_platform.spark.lines import LineParts, is_gzip, split_lines, whole_file, whole_local_gzip
from taxi_platform.spark.revenue import MONTH_IN_PATH, course_revenue_report, revenue_report, revenue_reports
from taxi_platform.spark.trips import (
    MONTH_INDEX,
    QUARANTINE_SCHEMA,
    REASON,
    UnreadableColumn,
    parquet_trip_rows,
    parse_trip_lines,
    part_read_settings,
    pickup_outside_month,
    quarantined_lines,
    read_numbered_lines,
    read_numbered_parts,
    read_trip_fields,
    struct_type,
    typed_trips,
    unparsed_any,
    unparsed_value_counts,
)
from taxi_platform.tlc.months import TripMonth, range_label
from taxi_platform.tlc.schemas import typed_columns
from taxi_platform.tlc.validation import header_names, missing_columns, unknown_columns
from taxi_platform.tlc.zones import ZONE_COLUMNS, ZONE_ID

PREVIEW_ROWS = 10
# With this on, Spark 3.5 reads a TIMESTAMP(NANOS) column as the long it stores (the typed stage makes it a timestamp).
NANOS_AS_LONG = "spark.sql.legacy.parquet.nanosAsLong"


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
        columns = [(name, kind) for name, kind in values["columns"]]
        # In the columns' order: a record kept as JSON with sorted keys has lost it.
        order = [name for name, _ in columns]
        preview = [{name: row[name] for name in order if name in row} for row in values.get("preview", [])]
        return cls(rows=int(values["rows"]), columns=columns, observed=values.get("observed", {}), preview=preview)


def _columns(schema: T.StructType) -> list[tuple[str, str]]:
    return [(f.name, f.dataType.simpleString()) for f in schema.fields]


def write_typed_trips(
    spark: SparkSession,
    raw_path: str,
    output: str,
    trip_month: TripMonth,
    partitions: int | None = 4,
    quarantine_output: str | None = None,
    staging: str | None = None,
) -> StageResult:
    """Type one raw monthly file, CSV or parquet: trips to `output`, the rows that are not to `quarantine_output`.

    One pass over the file writes the trips and observes the counts (rows, quarantined rows,
    numbers kept as NULL, out-of-month pickups); a second pass writes the quarantine, only when there
    is something to quarantine (an empty quarantine is written without reading the file again).

    Nothing is shuffled: each task writes the parquet file of its own part of the input. A local CSV
    (gzip or plain) is first cut into `partitions` plain parts of whole lines (`spark/lines.py`) in
    `staging` (a local folder the executors can read, else a temporary folder when Spark runs
    locally; removed afterwards), so the month is parsed on every core and written as that many
    files; a parquet file is read in up to `partitions` splits (its row groups). `partitions` None
    is the session's default parallelism. A `gs://` CSV, or a local one for a cluster without a
    `staging` folder, is read by Spark itself, in one task when gzip.
    """
    parts = partitions or spark.sparkContext.defaultParallelism
    with (
        _session_setting(spark, NANOS_AS_LONG, "true"),
        _text_parts(spark, raw_path, parts, staging) as text_parts,
        _parquet_splits(spark, raw_path, parts),
    ):
        return _write_typed_trips(spark, raw_path, output, trip_month, quarantine_output, text_parts)


@contextmanager
def _text_parts(spark: SparkSession, raw_path: str, parts: int, staging: str | None) -> Iterator[LineParts | None]:
    """A local CSV cut into plain parts (see `write_typed_trips`) with the settings to read them, then removed."""
    local_file = urlparse(raw_path).scheme in ("", "file") and not raw_path.endswith(".parquet")
    if not local_file or (staging is None and not (spark.sparkContext.master or "").startswith("local")):
        yield None
        return
    folder = Path(tempfile.mkdtemp(prefix="typed-trips-lines-", dir=staging))
    try:
        text_parts = split_lines(Path(urlparse(raw_path).path), folder, parts)
        with ExitStack() as settings:
            for key, value in part_read_settings(text_parts).items():
                settings.enter_context(_session_setting(spark, key, value))
            yield text_parts
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def _parquet_splits(spark: SparkSession, raw_path: str, parts: int) -> Iterator[None]:
    """A parquet file read in up to `parts` splits, so its row groups spread over the cores without a shuffle."""
    if not raw_path.endswith(".parquet"):
        yield
        return
    size = file_size(spark, raw_path)
    with _session_setting(spark, "spark.sql.files.maxPartitionBytes", str(max(-(-size // parts), 1 << 20))):
        yield


def _write_typed_trips(
    spark: SparkSession,
    raw_path: str,
    output: str,
    trip_month: TripMonth,
    quarantine: str | None,
    text_parts: LineParts | None,
) -> StageResult:
    color = trip_month.color
    rows: DataFrame | None = None
    source_format, header = "csv.gz", header_names(text_parts.header if text_parts is not None else "")

    def line_rows() -> DataFrame:
        """The month read line by line: planned only when needed (a parquet month, a fallback, a quarantine)."""
        nonlocal rows, source_format, header
        if rows is None:
            try:
                rows, source_format, header = read_trip_rows(spark, raw_path, color, text_parts)
            except UnreadableColumn as error:
                raise UnreadableColumn(f"{raw_path}: {error}") from None
        return rows

    fast: DataFrame | None = None
    if text_parts is not None:
        # Split without line numbers first; the month is read again line by line only if a line went missing.
        try:
            fast = read_trip_fields(spark, [text_parts], color, header)
        except UnreadableColumn as error:
            raise UnreadableColumn(f"{raw_path}: {error}") from None
    expected_lines = None if text_parts is None else text_parts.lines - 1
    observed, schema = _typed_pass(fast if fast is not None else line_rows(), color, trip_month, output)
    read_by = "fields" if fast is not None else "lines"
    if fast is not None and observed["lines"] != expected_lines:
        observed, schema = _typed_pass(line_rows(), color, trip_month, output)
        read_by = "lines"
    lines = observed["lines"]
    if expected_lines is not None and lines != expected_lines:
        raise RuntimeError(f"{raw_path}: Spark read {lines} data lines where counting newlines finds {expected_lines}")
    quarantined, outside = observed["quarantined"], observed["pickups_outside_month"]
    # The quarantine needs each line's text, which only the line-by-line read keeps.
    second = line_rows() if quarantined or fast is None else fast
    counts = _quarantine_and_count_unparsed(spark, second, color, quarantine, quarantined, observed["unparsed_rows"])
    unparsed = {c.name: int(counts.get(c.name) or 0) for c in typed_columns(color) if c.type != "string"}
    return StageResult(
        rows=lines - quarantined,
        columns=_columns(schema),
        observed={
            "source_format": source_format,
            "read_by": read_by,
            "data_lines": lines,
            # Counted apart from Spark, by the split (a local CSV): what a row-count audit may compare with.
            "file_data_lines": expected_lines,
            "quarantined_lines": quarantined,
            "pickups_outside_month": outside,
            "unparsed_values": unparsed,
            "missing_columns": missing_columns(header, color),
            "unknown_columns": unknown_columns(header, color),
        },
    )


def write_typed_trips_range(
    spark: SparkSession,
    inputs: list[tuple[TripMonth, str, int]],
    output: str,
    partitions: int,
    staging: str | None = None,
) -> dict[str, StageResult]:
    """Type many months' CSVs in one Spark job per color: each month's trips in `output/partition_folder(month)/`.

    `inputs` are (month, raw file, its data lines as raw_trips counted them). A range of at least
    `partitions` months reads each month whole, one task per month, which keeps every core busy
    without cutting the files; a shorter range of local months cuts each into `partitions` plain
    parts in the `staging` folder the executors read. A month on `gs://` (a Dataproc job, the lake
    on GCS) is always read whole. All are split into fields (`read_trip_fields`) side by side, typed,
    observed month by month, and written with one `partitionBy` (no shuffle: every task writes its
    part's file into its month's folder). A month is in the result only when that pass is its whole
    story: every line read, no line to quarantine, every number parsed. Any other month is left
    out (its folder, if written, is to be ignored), so that its caller types it alone with
    `write_typed_trips`, which reads it line by line, quarantines and counts.
    `output/_empty_quarantine/` is an empty quarantine (one file) for the months in the result.
    """
    folder = None if staging is None else Path(tempfile.mkdtemp(prefix="typed-trips-range-", dir=staging))
    try:
        months = {
            partition_folder(month): (month, _range_parts(spark, raw, lines, folder, month, partitions, len(inputs)))
            for month, raw, lines in inputs
        }
        results: dict[str, StageResult] = {}
        for color in sorted({month.color for month, _ in months.values()}):
            mine = {key: value for key, value in months.items() if value[0].color == color}
            results |= _typed_range_of_color(spark, mine, output)
        _no_lines(spark).coalesce(1).write.parquet(f"{output}/{EMPTY_QUARANTINE}")
        return results
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)


def _range_parts(
    spark: SparkSession, raw: str, data_lines: int, folder: Path | None, month: TripMonth, partitions: int, months: int
) -> LineParts:
    """How one month of a range is read: cut into parts in `folder` (a local month, in a range of fewer months
    than `partitions`, so every core has work), else whole, one task per month (its header read apart)."""
    if folder is not None and urlparse(raw).scheme in ("", "file"):
        path = Path(urlparse(raw).path)
        if months < partitions or not is_gzip(path):
            return split_lines(path, folder / partition_folder(month), partitions)
        return whole_local_gzip(path, data_lines + 1)
    first = spark.read.text(raw).first()
    return whole_file(raw, data_lines + 1, first[0].rstrip("\r") if first is not None else "")


EMPTY_QUARANTINE = "_empty_quarantine"
# A `partitionBy` write sorts each task's rows by the partition column first (a whole month, spilled to disk)
# unless it may keep a writer per folder open. Every task of a ranged typed write holds one month: one writer.
ONE_FOLDER_PER_TASK = {
    "spark.sql.optimizer.plannedWrite.enabled": "false",  # else the sort is planned before the writer is asked
    "spark.sql.maxConcurrentOutputFileWriters": "2",  # a task seeing more folders falls back to the sort
}
# The months of a ranged typed read are a union of their reads, typed by one projection above it. Pushed into
# each month's branch (with the month's own literals) it would be compiled once per month, on every task.
EXCLUDED_RULES = "spark.sql.optimizer.excludedRules"
PROJECTION_ABOVE_UNION = "org.apache.spark.sql.catalyst.optimizer.PushProjectionThroughUnion"


def _typed_range_of_color(
    spark: SparkSession, months: dict[str, tuple[TripMonth, LineParts]], output: str
) -> dict[str, StageResult]:
    """One color's months of `write_typed_trips_range`: one frame per header, typed once, one write."""
    # Under the largest part's settings every part of every month is read whole, in a task of its own (a
    # gzip read whole is one task anyway).
    largest = max((parts for _, parts in months.values()), key=lambda parts: parts.largest)
    settings = part_read_settings(largest) if largest.largest else {}
    by_header: dict[tuple[str, ...], list[str]] = {}
    for key, (_, parts) in months.items():
        by_header.setdefault(tuple(header_names(parts.header)), []).append(key)
    frames, observations = [], []
    excluded = ",".join(filter(None, [spark.conf.get(EXCLUDED_RULES, None), PROJECTION_ABOVE_UNION]))
    with ExitStack() as stack:
        for setting, value in {**settings, **ONE_FOLDER_PER_TASK, EXCLUDED_RULES: excluded}.items():
            stack.enter_context(_session_setting(spark, setting, value))
        for names, keys in by_header.items():
            group = [months[key][0] for key in keys]
            try:
                fast = read_trip_fields(spark, [months[key][1] for key in keys], group[0].color, list(names))
            except UnreadableColumn as error:
                raise UnreadableColumn(f"{range_label(group)}: {error}") from None
            observation = Observation(f"typed_trips {range_label(group)}")
            observations.append((keys, observation))
            trips, schema = _observed_typed(fast, group, observation)
            folders = F.array(*(F.lit(key.split("=", 1)[1]) for key in keys))
            frames.append(
                trips.withColumn(PARTITION_COLUMN, F.element_at(folders, F.col(MONTH_INDEX) + 1)).drop(MONTH_INDEX)
            )
        reduce(DataFrame.unionByName, frames).write.partitionBy(PARTITION_COLUMN).parquet(output)
    results = {}
    for keys, observation in observations:
        values = observation.get
        for index, key in enumerate(keys):
            month, parts = months[key]
            observed = {name: int(values.get(f"{name}_{index}") or 0) for name in _OBSERVED}
            if observed["lines"] != parts.lines - 1 or observed["quarantined"] or observed["unparsed_rows"]:
                continue  # typed again alone, line by line (see above)
            header = header_names(parts.header)
            results[key] = StageResult(
                rows=observed["lines"],
                columns=_columns(schema),
                observed={
                    "source_format": "csv.gz",
                    "read_by": "fields",
                    "data_lines": observed["lines"],
                    "file_data_lines": parts.lines - 1,
                    "quarantined_lines": 0,
                    "pickups_outside_month": observed["pickups_outside_month"],
                    "unparsed_values": {c.name: 0 for c in typed_columns(month.color) if c.type != "string"},
                    "missing_columns": missing_columns(header, month.color),
                    "unknown_columns": unknown_columns(header, month.color),
                },
            )
    return results


_OBSERVED = ("lines", "quarantined", "unparsed_rows", "pickups_outside_month")


def _observed_typed(
    rows: DataFrame, months: list[TripMonth], observation: Observation
) -> tuple[DataFrame, T.StructType]:
    """Rows of `months` typed, with what each month's metadata says counted on the way (`_OBSERVED`).

    With more than one month, each row's month is its `MONTH_INDEX`, kept in the result, and each
    count is named with the month's index (`lines_0`, ...).
    """
    color = months[0].color
    trip = F.col(REASON).isNull()
    # The pass carries only what it writes and counts (not the lines' text, not a flag per column).
    known = {c.name for c in typed_columns(color)}
    keep = (MONTH_INDEX,) if len(months) > 1 else ()
    first_pass = rows.select(
        *keep, *(name for name in rows.columns if name in known), REASON, unparsed_any(rows).alias("_unparsed")
    )
    counts = []
    for index, month in enumerate(months):
        of_month = F.col(MONTH_INDEX) == index if keep else F.lit(True)
        suffix = f"_{index}" if keep else ""
        counts += [
            F.count(F.when(of_month, 1)).alias(f"lines{suffix}"),
            F.count(F.when(of_month & ~trip, 1)).alias(f"quarantined{suffix}"),
            # One count, not one per column: the per-column counts are taken by a second pass, only when needed.
            F.count(F.when(of_month & trip & F.col("_unparsed"), 1)).alias(f"unparsed_rows{suffix}"),
            F.count(F.when(of_month & trip & pickup_outside_month(color, month.start, month.end), 1)).alias(
                f"pickups_outside_month{suffix}"
            ),
        ]
    trips = typed_trips(first_pass.observe(observation, *counts), color, keep)
    return trips, trips.drop(*keep).schema


def _typed_pass(rows: DataFrame, color: str, trip_month: TripMonth, output: str) -> tuple[dict[str, int], T.StructType]:
    """The one pass that writes the trips of `rows` (replacing `output`) and counts what the month's metadata says."""
    observation = Observation(f"typed_trips {trip_month.label}")
    trips, schema = _observed_typed(rows, [trip_month], observation)
    trips.write.mode("overwrite").parquet(output)
    return {name: int(value or 0) for name, value in observation.get.items()}, schema


def _quarantine_and_count_unparsed(
    spark: SparkSession, rows: DataFrame, color: str, quarantine: str | None, quarantined: int, unparsed_rows: int
) -> dict[str, Any]:
    """The second pass, when there is something to find: the quarantine written and, when trips hold values kept as
    NULL, their count per column (observed on the way). An empty quarantine is written without reading the file."""
    counting = Observation()
    if unparsed_rows:
        rows = rows.observe(counting, *unparsed_value_counts(rows, color))
    if quarantine is not None:
        bad = quarantined_lines(rows) if quarantined else _no_lines(spark)
        # One file in line order; no global sort, whose sampling job would read the file once more.
        bad.repartition(1).sortWithinPartitions("line").write.parquet(quarantine)
    if unparsed_rows and not (quarantine is not None and quarantined):
        rows.write.format("noop").mode("overwrite").save()
    return dict(counting.get) if unparsed_rows else {}


def _no_lines(spark: SparkSession) -> DataFrame:
    """An empty quarantine, made in the JVM (a DataFrame of a Python list starts Python workers to write nothing)."""
    return spark.range(0).select(
        *(F.lit(None).cast(field.dataType).alias(field.name) for field in QUARANTINE_SCHEMA.fields)
    )


def read_trip_rows(
    spark: SparkSession, path: str, color: str, text_parts: LineParts | None = None
) -> tuple[DataFrame, str, list[str]]:
    """A raw file's numbered rows, typed, with `_reason`, its format (`parquet` by name, else CSV) and its column names.

    A CSV is read from `text_parts` (its lines cut into parts by `split_lines`) when given, else whole.

    A parquet file is read alone, with its own types: months of different years store the same
    column differently, which one read over many files cannot merge. Its rows are read, lazily,
    under `NANOS_AS_LONG` (as `write_typed_trips` runs them).
    """
    if path.endswith(".parquet"):
        # Spark 3.5 cannot read TIMESTAMP(NANOS) (SPARK-40819); under NANOS_AS_LONG it reads them as
        # longs, which only the footer tells from other INT64 columns.
        nanos = [name for name, kind in parquet_columns(spark, path) if "TIMESTAMP(NANOS" in kind]
        parquet = spark.read.parquet(path)
        return parquet_trip_rows(parquet, color, nanos), "parquet", parquet.columns
    if text_parts is not None:
        header = header_names(text_parts.header)
        return parse_trip_lines(read_numbered_parts(spark, text_parts), color, header), "csv.gz", header
    first = spark.read.text(path).first()  # None: an empty file, refused by its columns being missing
    header = header_names(first[0] if first is not None else "")
    return parse_trip_lines(read_numbered_lines(spark, path), color, header), "csv.gz", header


@contextmanager
def _session_setting(spark: SparkSession, key: str, value: str) -> Iterator[None]:
    """A SQL setting for the length of a stage (its reads run lazily inside it), then the session's own again."""
    previous = spark.conf.get(key, None)
    spark.conf.set(key, value)
    try:
        yield
    finally:
        if previous is None:
            spark.conf.unset(key)
        else:
            spark.conf.set(key, previous)


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
    observation = Observation(f"revenue_report {trip_month.label}")
    trips = _observed_trips(spark.read.parquet(trips_path), trip_month, observation)
    zones = spark.read.parquet(zones_path)
    # A few hundred rows: keep them cached so counts and the preview do not recompute the month.
    report = revenue_report(trips, trip_month.color, trip_month.start, trip_month.end, zones)
    report = report.orderBy("revenue_zone").cache()
    try:
        report.coalesce(1).write.parquet(output)
        rows = [row.asDict() for row in report.collect()]
        return _report_result(observation.get, rows, _columns(report.schema))
    finally:
        report.unpersist()


# The column, and so the folder (`partition=green-2021-01/`), each month's report is written under by
# `write_revenue_reports`.
PARTITION_COLUMN = "partition"


def partition_folder(trip_month: TripMonth) -> str:
    """The folder, under a ranged job's output (`write_revenue_reports`, `write_typed_trips_range`), of one month."""
    return f"{PARTITION_COLUMN}={trip_month.color}-{trip_month.yyyy_mm}"


def write_revenue_reports(
    spark: SparkSession, inputs: list[tuple[TripMonth, str]], zones_path: str, output: str
) -> dict[str, StageResult]:
    """Many months' revenue reports in one Spark job: each month's in `output/partition_folder(month)/`, one file.

    Each month's typed trips are read as a frame of their own, counted on the way as
    `write_revenue_report` counts them, and all are aggregated at once (`revenue_reports`) and
    written with one `partitionBy`, so the count of Spark jobs does not grow with the months. The
    result, by folder name, is what `write_revenue_report` gives for one month; a month with no
    report row has no folder and no result (its caller builds it alone).
    """
    zones = spark.read.parquet(zones_path)
    observations: dict[str, Observation] = {}
    months = []
    for month, path in inputs:
        observation = observations[partition_folder(month)] = Observation(f"revenue_report {month.label}")
        # With its schema given, a month's read starts no job of its own to read a footer.
        typed = spark.read.schema(struct_type(typed_columns(month.color))).parquet(path)
        trips = _observed_trips(typed, month, observation)
        months.append((trips, month.color, month.start, month.end))
    report = revenue_reports(months, zones).withColumn(
        PARTITION_COLUMN, F.concat_ws("-", "service_type", F.date_format("revenue_month", "yyyy-MM"))
    )
    # A few hundred rows a month: cached, so collecting them after the write does not recompute the months.
    report = report.repartition(PARTITION_COLUMN).sortWithinPartitions(PARTITION_COLUMN, "revenue_zone").cache()
    try:
        report.write.partitionBy(PARTITION_COLUMN).parquet(output)
        by_folder: dict[str, list[dict[str, Any]]] = {}
        for row in report.collect():
            values = row.asDict()
            by_folder.setdefault(f"{PARTITION_COLUMN}={values.pop(PARTITION_COLUMN)}", []).append(values)
        columns = _columns(report.drop(PARTITION_COLUMN).schema)
        return {
            folder: _report_result(observation.get, by_folder[folder], columns)
            for folder, observation in observations.items()
            if folder in by_folder
        }
    finally:
        report.unpersist()


def _observed_trips(trips: DataFrame, trip_month: TripMonth, observation: Observation) -> DataFrame:
    """A month's typed trips, counting on the way what its report's metadata and audit need."""
    outside = pickup_outside_month(trip_month.color, trip_month.start, trip_month.end)
    return trips.observe(
        observation,
        F.count(F.lit(1)).alias("trips"),
        F.sum(outside.cast("int")).alias("pickups_outside_month"),
        F.sum(F.when(~outside, F.col("total_amount"))).alias("in_month_total_amount"),
    )


def _report_result(observed: dict[str, Any], rows: list[dict[str, Any]], columns: list[tuple[str, str]]) -> StageResult:
    """A month's report result from its rows: a few hundred, summed and ranked here rather than by more Spark jobs."""
    totals = [row[REPORT_TOTAL] for row in rows if row[REPORT_TOTAL] is not None]
    ranked = sorted(rows, key=lambda row: (row[REPORT_TOTAL] is None, -(row[REPORT_TOTAL] or 0.0)))
    return StageResult(
        rows=len(rows),
        columns=columns,
        observed={
            "trips": int(observed["trips"]),
            "pickups_outside_month": int(observed["pickups_outside_month"] or 0),
            "in_month_total_amount": observed["in_month_total_amount"],
            "report_total_amount": math.fsum(totals) if totals else None,
            "zones_without_names": sum(row["zone"] is None for row in rows),
        },
        preview=ranked[:PREVIEW_ROWS],  # the largest totals first, NULL last
    )


REPORT_TOTAL = "revenue_monthly_total_amount"


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
    others leave in a zone (Hadoop's glob matches them), e.g. a folder copied in by hand with its
    hidden files.
    """
    wild = [i for i, part in enumerate(pattern.rstrip("/").split("/")) if any(c in part for c in "*?[{")]
    visible = []
    for match in glob(spark, pattern):
        parts = match.rstrip("/").split("/")
        offset = len(parts) - len(pattern.rstrip("/").split("/"))
        if not any(parts[i + offset].startswith((".", "_")) for i in wild):
            visible.append(match)
    if not visible:
        raise FileNotFoundError(f"{pattern}: matches no folder")
    return visible


def _top_rows(frame: DataFrame, by: str) -> list[dict[str, Any]]:
    return [row.asDict() for row in frame.orderBy(F.col(by).desc_nulls_last()).limit(PREVIEW_ROWS).collect()]
