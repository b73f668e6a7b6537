"""Checks that the revenue numbers agree across the stages that hold them.

They read what is stored now (typed parquet, report parquet, warehouse slice), so they also catch a
report left stale by a rewritten typed partition, or a warehouse slice that drifted from the report.
"""

from collections.abc import Iterator
from typing import Any

from dagster import AssetCheckExecutionContext, AssetCheckResult, asset_check

from taxi_platform.assets import bigquery_revenue, revenue_report
from taxi_platform.assets.ranges import CheckEvent, each_partition
from taxi_platform.assets.unchanged import kept_by_this_run, written_in_run
from taxi_platform.audits import report_total_audit, totals_audit, totals_close
from taxi_platform.checks.readers import finished_parquet, finished_report
from taxi_platform.partitions import trip_partitions
from taxi_platform.resources import Lake, RevenueWarehouse, TripBucket
from taxi_platform.tlc.months import TripMonth
from taxi_platform.tlc.schemas import REVENUE_COLUMNS


def _close(a: object, b: object) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return isinstance(a, int | float) and isinstance(b, int | float) and totals_close(float(a), float(b))
    return a == b


# Each check yields one evaluation per partition of its run (ranges.each_partition), which Dagster runs;
# asset_check's annotation names only a function returning one AssetCheckResult.
@asset_check(  # type: ignore[arg-type]
    asset=revenue_report,
    partitions_def=trip_partitions,
    description="Sum of revenue_monthly_total_amount equals the typed parquet's total_amount over in-month pickups.",
)
def total_matches_typed_trips(
    context: AssetCheckExecutionContext, lake: Lake, bucket: TripBucket
) -> Iterator[CheckEvent]:
    def one_month(month: TripMonth) -> AssetCheckResult | None:
        if kept_by_this_run(context, month):
            return None
        return total_matches_typed_trips_month(
            month, lake, bucket, bucket.record(month.report_path), context.run.run_id
        )

    yield from each_partition(context, one_month)


def total_matches_typed_trips_month(
    month: TripMonth, lake: Lake, bucket: TripBucket, record: dict[str, Any] | None, run_id: str
) -> AssetCheckResult:
    """In the run that wrote the report, against the trips' total its stage observed (the month is not read
    again); on its own, against the published typed partition."""
    with finished_report(bucket, month) as report:
        record = written_in_run(record, run_id)
        observed = record.get("result", {}).get("observed", {}).get("in_month_total_amount")
        if observed is not None:
            audit = report_total_audit(report, observed)
            audited = "the report written in this run, against the trips' total observed as they were read"
        else:
            audit = totals_audit(report, finished_parquet(lake, month.typed_path, "typed_trips", month), month)
            audited = "the published report and typed partition, now"
    return AssetCheckResult(passed=audit.passed, metadata={**audit.metadata, "audited": audited})


@asset_check(  # type: ignore[arg-type]
    asset=bigquery_revenue,
    partitions_def=trip_partitions,
    description="The warehouse's (revenue_month, service_type) slice holds exactly the report's rows.",
)
def slice_matches_report(
    context: AssetCheckExecutionContext, bucket: TripBucket, warehouse: RevenueWarehouse
) -> Iterator[CheckEvent]:
    yield from each_partition(context, lambda month: slice_matches_report_month(month, bucket, warehouse))


def slice_matches_report_month(month: TripMonth, bucket: TripBucket, warehouse: RevenueWarehouse) -> AssetCheckResult:
    with finished_report(bucket, month) as report:
        expected = sorted(report.table().to_pylist(), key=lambda row: row["revenue_zone"])
    loaded = warehouse.slice_rows(month)
    names = [c.name for c in REVENUE_COLUMNS]
    differing = [
        row["revenue_zone"]
        for row, other in zip(expected, loaded, strict=False)
        if not all(_close(row[name], other.get(name)) for name in names)
    ]
    return AssetCheckResult(
        passed=len(loaded) == len(expected) and not differing,
        metadata={"report_rows": len(expected), "warehouse_rows": len(loaded), "differing_zones": differing[:20]},
    )


revenue_checks = [total_matches_typed_trips, slice_matches_report]
