from collections.abc import Iterator

from dagster import AssetExecutionContext, BackfillPolicy, MaterializeResult, asset

from taxi_platform.assets.metadata import bucket_location, column_schema, parquet_summary
from taxi_platform.assets.ranges import RangeEvent, each_month
from taxi_platform.assets.typed_trips import typed_trips
from taxi_platform.failures import named_failures, require_upstream
from taxi_platform.partitions import trip_partitions
from taxi_platform.resources import Lake, TripBucket
from taxi_platform.tlc import TripMonth


@asset(
    partitions_def=trip_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    deps=[typed_trips],
    code_version="1",  # bump when the output changes for the same input: Dagster then shows it stale
    group_name="trips",
    kinds={"gcs", "parquet"},
    description=(
        "The typed parquet published to the bucket at `pq/{color}/{YYYY}/{MM}/` (a local folder with "
        "the bucket's layout in the local profile; on GCS, server-side copies from the lake, each checked by "
        "its MD5). Republishing replaces the month's prefix whole; a prefix that already holds the same files "
        "is left as it is."
    ),
)
def gcs_trips(context: AssetExecutionContext, lake: Lake, bucket: TripBucket) -> Iterator[RangeEvent]:
    yield from each_month(context, lambda month: gcs_trips_month(month, context, lake, bucket))


def gcs_trips_month(
    month: TripMonth, context: AssetExecutionContext, lake: Lake, bucket: TripBucket
) -> MaterializeResult:
    """One month of gcs_trips: its metadata, as a run of that one partition records it."""
    require_upstream(lake.is_finished(month.typed_path), f"finished parquet in {lake.uri(month.typed_path)}",
                     "typed_trips", month)  # fmt: skip
    source = lake.uri(month.typed_path)  # the current version: on GCS, copied server-side
    with named_failures(month, source):
        rows, columns = parquet_summary(lake.parquet_files(source), source)
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
