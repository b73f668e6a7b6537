import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    BackfillPolicy,
    MaterializeResult,
    asset,
)

from taxi_platform.assets.gcs_trips import gcs_trips
from taxi_platform.assets.metadata import bucket_location, column_schema, markdown_table
from taxi_platform.assets.ranges import RangeEvent, each_month
from taxi_platform.assets.taxi_zones import taxi_zones
from taxi_platform.assets.unchanged import derived_version, kept_metadata, kept_record, stage_record
from taxi_platform.audits import parquet_files, report_total_audit, require_passed
from taxi_platform.failures import named_failures, require_upstream
from taxi_platform.partitions import trip_partitions
from taxi_platform.resources import SparkResource, TripBucket
from taxi_platform.spark.stages import StageResult
from taxi_platform.tlc import TripMonth
from taxi_platform.tlc.zones import ZONES_PREFIX

# Bump when the report changes for the same trips and zones: reports built by another code version are built
# again, and Dagster shows them stale.
REVENUE_REPORT_CODE_VERSION = "1"


@asset(
    partitions_def=trip_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    deps=[gcs_trips, taxi_zones],
    code_version=REVENUE_REPORT_CODE_VERSION,
    group_name="revenue",
    kinds={"spark", "parquet"},
    check_specs=[
        AssetCheckSpec(
            "totals_reconcile",
            asset="revenue_report",
            partitions_def=trip_partitions,
            description="The report's total revenue equals the sum of total_amount over the month's trips.",
        )
    ],
    description=(
        "The course's monthly revenue report (revenue per pickup zone, month and service type: the eight "
        "`revenue_monthly_*` sums, average passenger count and trip distance) for one color and month, "
        "followed by the pickup zone's `borough`, `zone` and `service_zone` from taxi_zones (a broadcast join; "
        "NULL for a zone the lookup lacks), "
        "read from the published parquet and written to the bucket at `report/revenue/{color}/{YYYY}/{MM}/`. "
        "**Trips whose pickup is outside the partition's month are excluded** (the course SQL would "
        "give them their own `revenue_month` rows, e.g. 2008-12); their count is in the "
        "`pickups_outside_month` metadata."
    ),
)
def revenue_report(context: AssetExecutionContext, spark: SparkResource, bucket: TripBucket) -> Iterator[RangeEvent]:
    yield from each_month(context, lambda month: revenue_report_month(month, context, spark, bucket))


def revenue_report_month(
    month: TripMonth, context: AssetExecutionContext, spark: SparkResource, bucket: TripBucket
) -> MaterializeResult:
    """One month of revenue_report: its metadata and its check, as a run of that one partition records them."""
    require_upstream(bucket.is_published(month.typed_path), f"published {month.typed_path}", "gcs_trips", month)
    source = bucket.spark_path(month.typed_path)
    zones = bucket.spark_path(ZONES_PREFIX)
    require_upstream(bucket.is_published(ZONES_PREFIX), f"the zone lookup in {zones}", "taxi_zones", month, False)
    inputs = {
        "trips": bucket.fingerprint(month.typed_path),
        "zones": bucket.fingerprint(ZONES_PREFIX),
        "code_version": REVENUE_REPORT_CODE_VERSION,
    }
    finished = bucket.record(month.report_path) if bucket.is_published(month.report_path) else None
    if (kept := kept_record(context, month.report_path, finished, inputs)) is not None:
        # The same trips, zones and code: no Spark job, the report untouched, its check not evaluated again.
        result = StageResult.from_dict(kept["result"])
        return MaterializeResult(
            metadata={**report_metadata(month, bucket, result, source, zones), **kept_metadata(kept)},
            data_version=derived_version(inputs),
        )
    context.log.info(f"Building the {month.label} revenue report from {source}, zone names from {zones}")

    def audit(written: Path) -> None:
        """Runs after the block below, before publishing: the written report against its trips' observed total."""
        require_passed(
            [report_total_audit(parquet_files(written), run.result.observed["in_month_total_amount"] or 0.0)],
            month,
            source,
        )

    with named_failures(month, source), bucket.replace_prefix(month.report_path, audit=audit) as staging:
        run = spark.run_revenue_report(source, zones, staging, month)
        bucket.keep_record(staging, stage_record(inputs, run.result, context.run_id))  # published with the report
    observed = run.result.observed
    outside = observed["pickups_outside_month"]
    if outside:
        context.log.info(f"{outside} of {observed['trips']} trips have a pickup outside {month.label}: excluded")
    expected, reported = observed["in_month_total_amount"] or 0.0, observed["report_total_amount"] or 0.0
    return MaterializeResult(
        metadata={**report_metadata(month, bucket, run.result, source, zones), **run.placement},
        check_results=[
            AssetCheckResult(
                check_name="totals_reconcile",
                passed=math.isclose(expected, reported, rel_tol=1e-9, abs_tol=1e-6),
                metadata={"trips_total_amount": expected, "report_total_amount": reported},
            )
        ],
        data_version=derived_version(inputs),
    )


def report_metadata(
    month: TripMonth, bucket: TripBucket, result: StageResult, source: str, zones: str
) -> dict[str, Any]:
    """A report partition's metadata from its stage's result: the same whether it was just built or kept."""
    observed = result.observed
    return {
        **bucket_location(bucket.describe(month.report_path)),
        "source": source,
        "dagster/row_count": result.rows,
        "dagster/column_schema": column_schema(result.columns),
        "trips_in_month": observed["trips"] - observed["pickups_outside_month"],
        "pickups_outside_month": observed["pickups_outside_month"],
        "zones": zones,
        "zones_without_names": observed["zones_without_names"],
        "preview": markdown_table(result.preview),
    }
