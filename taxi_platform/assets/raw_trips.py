from collections.abc import Iterator

from dagster import AssetExecutionContext, BackfillPolicy, MaterializeResult, asset

from taxi_platform.assets.metadata import column_schema, download_metadata, location
from taxi_platform.assets.ranges import RangeEvent, each_month
from taxi_platform.failures import named_failures
from taxi_platform.partitions import trip_partitions
from taxi_platform.resources import LocalLake, TripSource
from taxi_platform.tlc import TripMonth, inspect_trip_file


@asset(
    partitions_def=trip_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    group_name="trips",
    kinds={"csv", "parquet"},
    description=(
        "The month's trip file exactly as published, from the first source that has it (by default the "
        "course's CSV release, then the TLC's parquet feed), at `raw/{color}/{YYYY}/{MM}/` as "
        "`{color}_tripdata_{YYYY}_{MM}.csv.gz` or `.parquet`. It replaces the previous copy only after it "
        "is read whole and has the color's columns."
    ),
)
def raw_trips(context: AssetExecutionContext, trip_source: TripSource, lake: LocalLake) -> Iterator[RangeEvent]:
    yield from each_month(context, lambda month: raw_trips_month(month, context, trip_source, lake))


def raw_trips_month(
    month: TripMonth, context: AssetExecutionContext, trip_source: TripSource, lake: LocalLake
) -> MaterializeResult:
    """One month of raw_trips: its metadata, as a run of that one partition records it."""
    with named_failures(month, trip_source.shown_url(month)):
        published = trip_source.locate(month)
    target = month.raw_path_of(published.format)
    with named_failures(month, published.url), lake.replace_file(target) as download:
        context.log.info(f"Downloading {month.label} from {published.source} ({published.url}) to {lake.path(target)}")
        fetched = trip_source.fetch(published, download)
        facts = inspect_trip_file(download, month.color, name=fetched.url)
    for other in month.raw_paths:
        if other != target:  # the month was published in another format before: one file per partition
            lake.remove_file(other)
    context.log.info(f"{month.label}: {fetched.bytes} bytes, {facts.rows} rows in {fetched.seconds:.1f}s")
    return MaterializeResult(
        metadata={
            **location(lake.path(target)),
            **download_metadata(fetched),
            "uncompressed_bytes": facts.uncompressed_bytes,
            "dagster/row_count": facts.rows,
            "dagster/column_schema": column_schema(facts.column_types),
            "unknown_columns": ", ".join(facts.unknown_columns) or "none",
        }
    )
