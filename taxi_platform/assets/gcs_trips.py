import hashlib
import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from dagster import AssetExecutionContext, BackfillPolicy, MaterializeResult, asset

from taxi_platform.assets.metadata import bucket_location, column_schema, parquet_summary
from taxi_platform.assets.ranges import RangeEvent, each_month
from taxi_platform.assets.typed_trips import typed_trips
from taxi_platform.assets.unchanged import kept_metadata
from taxi_platform.failures import named_failures, require_upstream
from taxi_platform.partitions import trip_partitions
from taxi_platform.resources import Lake, TripBucket
from taxi_platform.spark.stages import StageResult
from taxi_platform.tlc import TripMonth

# Bump when the output changes for the same input: Dagster then shows it stale, and the bucket is published again.
GCS_TRIPS_CODE_VERSION = "1"


@asset(
    partitions_def=trip_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    deps=[typed_trips],
    code_version=GCS_TRIPS_CODE_VERSION,
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
    typed = lake.record(month.typed_path)  # the typed version's record: what it holds, which run wrote it
    inputs = None if typed is None else published_inputs(typed)
    held = bucket.record(month.typed_path) if bucket.is_published(month.typed_path) else None
    if typed is not None and held is not None and held.get("inputs") == inputs:
        # The bucket holds this very version: nothing is read, listed beyond the prefix, or copied.
        result = StageResult.from_dict(typed["result"])
        context.log.info(f"{month.typed_path}: the bucket holds the typed version of run {typed['run_id']}: kept")
        rows, columns = result.rows, result.columns
        published = replace(bucket.describe(month.typed_path), changed=False)
        kept = kept_metadata(held)
    else:
        source = lake.uri(month.typed_path)  # the current version: on GCS, copied server-side
        with named_failures(month, source):
            rows, columns = parquet_summary(lake.parquet_files(source), source)
            published = bucket.publish(source, month.typed_path, {"inputs": inputs, "run_id": context.run_id})
        kept = {}
    verb = "Published" if published.changed else "Unchanged, kept"
    context.log.info(f"{verb} {month.label}: {published.files} files at {published.uri}")
    return MaterializeResult(
        metadata={
            **bucket_location(published),
            "changed": published.changed,
            "dagster/row_count": rows,
            "dagster/column_schema": column_schema(columns),
            **kept,
        }
    )


def published_inputs(typed: dict[str, Any]) -> dict[str, Any]:
    """What the bucket's copy is made from: the typed version (its record names it: inputs, stage result, run) and
    this asset's code version."""
    version = hashlib.sha256(json.dumps(typed, sort_keys=True, default=str).encode()).hexdigest()
    return {"typed_version": version, "code_version": GCS_TRIPS_CODE_VERSION}
