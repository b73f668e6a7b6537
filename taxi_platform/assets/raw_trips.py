from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from taxi_platform.assets.metadata import column_schema, location
from taxi_platform.failures import named_failures
from taxi_platform.partitions import trip_month, trip_partitions
from taxi_platform.resources import LocalLake, TripSource
from taxi_platform.tlc import inspect_trip_file


@asset(
    partitions_def=trip_partitions,
    group_name="trips",
    kinds={"csv"},
    description=(
        "The month's trip file exactly as published (`.csv.gz`), at "
        "`raw/{color}/{YYYY}/{MM}/{color}_tripdata_{YYYY}_{MM}.csv.gz`. It replaces the previous "
        "copy only after the gzip is read to its end and the header is the color's."
    ),
)
def raw_trips(context: AssetExecutionContext, trip_source: TripSource, lake: LocalLake) -> MaterializeResult:
    month = trip_month(context)
    target = lake.path(month.raw_path)
    with named_failures(month, trip_source.shown_url(month)), lake.replace_file(month.raw_path) as download:
        context.log.info(f"Downloading {month.label} to {target}")
        fetched = trip_source.download(month, download)
        facts = inspect_trip_file(download, month.color, name=fetched.url)
    context.log.info(f"{month.label}: {fetched.bytes} bytes, {facts.rows} rows in {fetched.seconds:.1f}s")
    return MaterializeResult(
        metadata={
            **location(target),
            "source_url": MetadataValue.url(fetched.url),
            "sha256": fetched.sha256,
            "uncompressed_bytes": facts.uncompressed_bytes,
            "download_attempts": fetched.attempts,
            "download_seconds": round(fetched.seconds, 3),
            "dagster/row_count": facts.rows,
            "dagster/column_schema": column_schema((name, "string") for name in facts.header),
            "unknown_columns": ", ".join(facts.unknown_columns) or "none",
        }
    )
