"""Checks of one typed_trips partition: schema, row count and null keys, blocking; out-of-month pickups warn.

In the run that wrote the partition the blocking ones report the audit it passed before it was
published (kept with it), so the month is not read again; run on their own, from the UI or the
CLI, they read the published partition back with pyarrow (no Spark, no JVM) and audit it.
"""

from collections.abc import Callable, Iterator

from dagster import AssetCheckExecutionContext, AssetCheckResult, AssetCheckSeverity, MetadataValue, asset_check

from taxi_platform.assets import typed_trips
from taxi_platform.assets.ranges import CheckEvent, each_partition
from taxi_platform.assets.unchanged import kept_by_this_run, raw_file, written_in_run
from taxi_platform.audits import (
    Audit,
    ParquetFiles,
    null_keys_audit,
    parquet_rows,
    pickups_in_month,
    recorded_audit,
    rows_audit,
    schema_audit,
)
from taxi_platform.checks.readers import finished_parquet, quarantine_files
from taxi_platform.partitions import trip_partitions
from taxi_platform.resources import Lake
from taxi_platform.tlc import pickup_column
from taxi_platform.tlc.months import TripMonth

OUTSIDE_MONTH_MAX_SHARE = 0.01  # real 2021 files: at most 0.03 % of trips


def typed_trips_check(description: str, blocking: bool = True) -> Callable:
    return asset_check(asset=typed_trips, partitions_def=trip_partitions, blocking=blocking, description=description)


def typed_partition(month: TripMonth, lake: Lake) -> tuple[TripMonth, ParquetFiles]:
    return month, finished_parquet(lake, month.typed_path, "typed_trips", month)


def reported(audit: Audit, audited: str = "the published partition, now") -> AssetCheckResult:
    """An audit as its check's result; `audited` says of what."""
    metadata = {**audit.metadata, "problem": audit.problem or "none", "audited": audited}
    return AssetCheckResult(passed=audit.passed, metadata=metadata)


def audited(
    context: AssetCheckExecutionContext, lake: Lake, name: str, audit_now: Callable[[TripMonth], Audit]
) -> Iterator[CheckEvent]:
    """Each month's check: the write's own audit when this run wrote the month, else `audit_now` of the published."""

    def one_month(month: TripMonth) -> AssetCheckResult | None:
        record = lake.record(month.typed_path) if lake.is_finished(month.typed_path) else None
        kept = written_in_run(record, context.run.run_id).get("audits", {}).get(name)
        if kept is not None:
            return reported(recorded_audit(kept), "the version written in this run, before it was published")
        if kept_by_this_run(context, month):
            return None
        return reported(audit_now(month))

    yield from each_partition(context, one_month)


@typed_trips_check("The parquet has the color's typed schema: the course's columns, then the added ones, in order.")
def schema_is_the_course_schema(context: AssetCheckExecutionContext, lake: Lake) -> Iterator[CheckEvent]:
    yield from audited(context, lake, "schema_is_the_course_schema", lambda month: schema_now(month, lake))


def schema_now(month: TripMonth, lake: Lake) -> Audit:
    month, files = typed_partition(month, lake)
    return schema_audit(files, month)


@typed_trips_check(
    "The parquet holds rows, as many as the raw file has (CSV data lines or parquet rows) less the quarantined."
)
def rows_match_raw_file(context: AssetCheckExecutionContext, lake: Lake) -> Iterator[CheckEvent]:
    yield from audited(context, lake, "rows_match_raw_file", lambda month: rows_now(month, lake))


def rows_now(month: TripMonth, lake: Lake) -> Audit:
    month, files = typed_partition(month, lake)
    raw = raw_file(lake, month)
    rows = raw.rows(lake, month) if raw is not None else None  # raw_trips' record, else the file
    return rows_audit(files, rows, parquet_rows(quarantine_files(lake, month)))


@typed_trips_check("No trip lacks its pickup time, pickup zone or drop-off zone.")
def no_null_pickup_or_zones(context: AssetCheckExecutionContext, lake: Lake) -> Iterator[CheckEvent]:
    yield from audited(context, lake, "no_null_pickup_or_zones", lambda month: null_keys_now(month, lake))


def null_keys_now(month: TripMonth, lake: Lake) -> Audit:
    month, files = typed_partition(month, lake)
    return null_keys_audit(files, month)


@typed_trips_check(f"Fewer than {OUTSIDE_MONTH_MAX_SHARE:.0%} of the trips pick up outside the month.", blocking=False)
def few_pickups_outside_month(context: AssetCheckExecutionContext, lake: Lake) -> Iterator[CheckEvent]:
    yield from each_partition(context, lambda month: few_pickups_outside_one_month(month, lake))


def few_pickups_outside_one_month(month: TripMonth, lake: Lake) -> AssetCheckResult:
    import pyarrow as pa  # at run time, not at definitions import
    import pyarrow.compute as pc

    month, files = typed_partition(month, lake)
    pickups = files.table([pickup_column(month.color)]).column(0)
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
