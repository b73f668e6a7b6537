from collections.abc import Iterator

from dagster import AssetExecutionContext, BackfillPolicy, MaterializeResult, MetadataValue, asset

from taxi_platform.assets.metadata import column_schema
from taxi_platform.assets.ranges import RangeEvent, each_month
from taxi_platform.assets.revenue_report import revenue_report
from taxi_platform.failures import named_failures, require_upstream
from taxi_platform.partitions import trip_partitions
from taxi_platform.resources import RevenueWarehouse, TripBucket
from taxi_platform.tlc import TripMonth
from taxi_platform.tlc.schemas import REVENUE_COLUMNS


@asset(
    partitions_def=trip_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    deps=[revenue_report],
    code_version="1",  # bump when the output changes for the same input: Dagster then shows it stale
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
    with named_failures(month, report), bucket.local_copy(month.report_path) as files:
        loaded = warehouse.replace_revenue(files, month)
    context.log.info(f"{loaded.table}: {loaded.rows} rows for {month.label}, {loaded.table_rows} in all")
    return MaterializeResult(
        metadata={
            "table": loaded.table,
            "uri": MetadataValue.url(loaded.uri),
            "source": report,
            "bytes": loaded.bytes,
            "table_rows": loaded.table_rows,
            "dagster/row_count": loaded.rows,
            "dagster/column_schema": column_schema((c.name, c.type) for c in REVENUE_COLUMNS),
        }
    )
