from dagster import AssetExecutionContext, MaterializeResult, asset

from taxi_platform.assets.metadata import bucket_location, column_schema, parquet_summary
from taxi_platform.assets.typed_trips import typed_trips
from taxi_platform.failures import named_failures, require_upstream
from taxi_platform.partitions import trip_month, trip_partitions
from taxi_platform.resources import LocalLake, TripBucket


@asset(
    partitions_def=trip_partitions,
    deps=[typed_trips],
    code_version="1",  # bump when the output changes for the same input: Dagster then shows it stale
    group_name="trips",
    kinds={"gcs", "parquet"},
    description=(
        "The typed parquet published to the bucket at `pq/{color}/{YYYY}/{MM}/` (a local folder with "
        "the bucket's layout in the local profile). Republishing replaces the month's prefix whole."
    ),
)
def gcs_trips(context: AssetExecutionContext, lake: LocalLake, bucket: TripBucket) -> MaterializeResult:
    month = trip_month(context)
    source = lake.path(month.typed_path)
    require_upstream(lake.is_finished(month.typed_path), f"finished parquet in {source}", "typed_trips", month)
    with named_failures(month, str(source)):
        rows, columns = parquet_summary(source)
        published = bucket.publish(source, month.typed_path)
    verb = "Published" if published.changed else "Unchanged, kept"
    context.log.info(f"{verb} {month.label}: {published.files} files at {published.uri}")
    return MaterializeResult(
        metadata={
            **bucket_location(published),
            "changed": published.changed,
            "dagster/row_count": rows,
            "dagster/column_schema": column_schema(columns),
        }
    )
