import hashlib
import json
from collections.abc import Iterator
from typing import Any

from dagster import AssetExecutionContext, BackfillPolicy, DataVersion, MaterializeResult, MetadataValue, asset

from taxi_platform.assets.metadata import column_schema
from taxi_platform.assets.ranges import RangeEvent, each_month
from taxi_platform.assets.revenue_report import revenue_report
from taxi_platform.failures import named_failures, require_upstream
from taxi_platform.partitions import trip_partitions
from taxi_platform.resources import RevenueWarehouse, TripBucket
from taxi_platform.tlc import TripMonth
from taxi_platform.tlc.schemas import REVENUE_COLUMNS

# Bump when the slice changes for the same report: slices loaded by another code version are loaded again.
BIGQUERY_REVENUE_CODE_VERSION = "1"


@asset(
    partitions_def=trip_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    deps=[revenue_report],
    code_version=BIGQUERY_REVENUE_CODE_VERSION,
    group_name="revenue",
    kinds={"bigquery", "duckdb"},
    description=(
        "The report rows in the warehouse table `revenue` (DuckDB locally, BigQuery in the gcp profile). "
        "Materializing a partition replaces exactly its (revenue_month, service_type) slice."
    ),
)
def bigquery_revenue(
    context: AssetExecutionContext, bucket: TripBucket, warehouse: RevenueWarehouse
) -> Iterator[RangeEvent]:
    yield from each_month(context, lambda month: bigquery_revenue_month(month, context, bucket, warehouse))


def bigquery_revenue_month(
    month: TripMonth, context: AssetExecutionContext, bucket: TripBucket, warehouse: RevenueWarehouse
) -> MaterializeResult:
    """One month of bigquery_revenue: its metadata, as a run of that one partition records it."""
    report = bucket.spark_path(month.report_path)
    require_upstream(bucket.is_published(month.report_path), f"finished report in {report}", "revenue_report", month)
    inputs = json.dumps(
        {"report": bucket.fingerprint(month.report_path), "code_version": BIGQUERY_REVENUE_CODE_VERSION}, sort_keys=True
    )
    last = warehouse.last_load(month)
    if last is not None and last.inputs == inputs:
        table = warehouse.describe_table()
        context.log.info(
            f"{table.table}: the {month.label} slice was loaded from this report by run {last.run_id}: kept"
        )
        return MaterializeResult(
            metadata={
                **slice_metadata(table.table, table.uri, report, last.rows),
                "bytes": table.bytes,
                "table_rows": table.rows,
                "unchanged": True,
                "made_by_run": last.run_id,
            },
            data_version=DataVersion(hashlib.sha256(inputs.encode()).hexdigest()),
        )
    with named_failures(month, report):
        loaded = warehouse.replace_revenue(bucket.data_files(month.report_path), month, inputs, context.run_id)
    context.log.info(f"{loaded.table}: {loaded.rows} rows for {month.label}, {loaded.table_rows} in all")
    return MaterializeResult(
        metadata={
            **slice_metadata(loaded.table, loaded.uri, report, loaded.rows),
            "bytes": loaded.bytes,
            "table_rows": loaded.table_rows,
            **({"load_job": loaded.load_job} if loaded.load_job else {}),
        },
        data_version=DataVersion(hashlib.sha256(inputs.encode()).hexdigest()),
    )


def slice_metadata(table: str, uri: str, report: str, rows: int) -> dict[str, Any]:
    """A slice's metadata, the same whether it was just loaded or kept."""
    return {
        "table": table,
        "uri": MetadataValue.url(uri),
        "source": report,
        "dagster/row_count": rows,
        "dagster/column_schema": column_schema((c.name, c.type) for c in REVENUE_COLUMNS),
    }
