from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from dagster import (
    AssetExecutionContext,
    BackfillPolicy,
    MaterializeResult,
    asset,
)

from taxi_platform.assets.gcs_trips import gcs_trips
from taxi_platform.assets.metadata import bucket_location, column_schema, markdown_table
from taxi_platform.assets.ranges import Kept, RangeEvent, Together, each_month, run_together
from taxi_platform.assets.taxi_zones import taxi_zones
from taxi_platform.assets.unchanged import derived_version, kept_metadata, kept_record, stage_record
from taxi_platform.audits import parquet_files, report_total_audit, require_passed
from taxi_platform.failures import named_failures, require_upstream
from taxi_platform.partitions import partition_key, trip_month_of, trip_partitions
from taxi_platform.resources import SparkResource, TripBucket
from taxi_platform.spark.stages import StageResult, partition_folder
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
    plans = {str(key): report_plan(trip_month_of(key), context, bucket) for key in context.partition_keys}
    to_build = [plan for plan in plans.values() if isinstance(plan, ReportInputs)]
    together = len(to_build) > 1
    with bucket.staging_area("revenue_reports") if together else nullcontext() as staging:
        built = None
        if staging is not None:
            inputs, zones = [(plan.month, plan.source) for plan in to_build], to_build[0].zones
            job = partial(spark.run_revenue_reports, inputs, zones, staging)
            built = run_together(context, [plan.month for plan in to_build], staging, job)

        def one_month(month: TripMonth) -> MaterializeResult:
            return revenue_report_month(month, plans[str(partition_key(month))], context, spark, bucket, built)

        yield from each_month(context, one_month)


@dataclass(frozen=True)
class ReportInputs:
    """A month whose report is to be built: where its trips and zones are read, and what it is made from."""

    month: TripMonth
    source: str
    zones: str
    inputs: dict[str, Any]


def report_plan(
    month: TripMonth, context: AssetExecutionContext, bucket: TripBucket
) -> ReportInputs | Kept[ReportInputs] | Exception:
    """What a month's report needs: its inputs to build it, its record to keep it, or the error that stops it."""
    try:
        require_upstream(bucket.is_published(month.typed_path), f"published {month.typed_path}", "gcs_trips", month)
        zones = bucket.spark_path(ZONES_PREFIX)
        require_upstream(bucket.is_published(ZONES_PREFIX), f"the zone lookup in {zones}", "taxi_zones", month, False)
        inputs = {
            "trips": bucket.fingerprint(month.typed_path),
            "zones": bucket.fingerprint(ZONES_PREFIX),
            "code_version": REVENUE_REPORT_CODE_VERSION,
        }
        plan = ReportInputs(month, bucket.spark_path(month.typed_path), zones, inputs)
        finished = bucket.record(month.report_path) if bucket.is_published(month.report_path) else None
        kept = kept_record(context, month.report_path, finished, inputs)
        return plan if kept is None else Kept(plan, kept)
    except Exception as error:  # raised again as that month's own failure, its neighbours going on
        return error


def revenue_report_month(
    month: TripMonth,
    plan: ReportInputs | Kept[ReportInputs] | Exception,
    context: AssetExecutionContext,
    spark: SparkResource,
    bucket: TripBucket,
    built: Together | None,
) -> MaterializeResult:
    """One month of revenue_report: its metadata and its check, as a run of that one partition records them."""
    if isinstance(plan, Exception):
        raise plan
    if isinstance(plan, Kept):
        # The same trips, zones and code: no Spark job, the report untouched, its check not evaluated again.
        result = StageResult.from_dict(plan.record["result"])
        return MaterializeResult(
            metadata={**report_metadata(month, bucket, result, plan.plan), **kept_metadata(plan.record)},
            data_version=derived_version(plan.plan.inputs),
        )
    folder = partition_folder(month)
    if built is not None and folder in built.run.results:
        result, placement = built.run.results[folder], built.run.placement
        with named_failures(month, plan.source):
            bucket.publish_written(
                month.report_path,
                f"{built.output}/{folder}",
                stage_record(plan.inputs, result, context.run_id),
                audit=lambda written: audit_report(written, result, plan),
            )
    else:
        result, placement = build_alone(plan, context, spark, bucket)
    observed = result.observed
    outside = observed["pickups_outside_month"]
    if outside:
        context.log.info(f"{outside} of {observed['trips']} trips have a pickup outside {month.label}: excluded")
    return MaterializeResult(
        metadata={**report_metadata(month, bucket, result, plan), **placement},
        data_version=derived_version(plan.inputs),
    )


def build_alone(
    plan: ReportInputs, context: AssetExecutionContext, spark: SparkResource, bucket: TripBucket
) -> tuple[StageResult, dict[str, str]]:
    """One month's report in its own job, written aside, audited and published."""
    month = plan.month
    context.log.info(f"Building the {month.label} revenue report from {plan.source}, zone names from {plan.zones}")
    with (
        named_failures(month, plan.source),
        bucket.replace_prefix(
            month.report_path, audit=lambda written: audit_report(written, run.result, plan)
        ) as staging,
    ):
        run = spark.run_revenue_report(plan.source, plan.zones, staging, month)
        bucket.keep_record(staging, stage_record(plan.inputs, run.result, context.run_id))  # published with it
    return run.result, run.placement


def audit_report(written: Path, result: StageResult, plan: ReportInputs) -> None:
    """Before publishing: the written report's total against its trips' in-month total, observed as they were read."""
    expected = result.observed["in_month_total_amount"] or 0.0
    require_passed([report_total_audit(parquet_files(written), expected)], plan.month, plan.source)


def report_metadata(month: TripMonth, bucket: TripBucket, result: StageResult, plan: ReportInputs) -> dict[str, Any]:
    """A report partition's metadata from its stage's result: the same whether it was just built or kept."""
    observed = result.observed
    return {
        **bucket_location(bucket.describe(month.report_path)),
        "source": plan.source,
        "dagster/row_count": result.rows,
        "dagster/column_schema": column_schema(result.columns),
        "trips_in_month": observed["trips"] - observed["pickups_outside_month"],
        "pickups_outside_month": observed["pickups_outside_month"],
        "zones": plan.zones,
        "zones_without_names": observed["zones_without_names"],
        # What the audit compared before publishing (the report's total, the trips' in-month total_amount).
        "report_total_amount": observed.get("report_total_amount") or 0.0,
        "trips_total_amount": observed.get("in_month_total_amount") or 0.0,
        "preview": markdown_table(result.preview),
    }
