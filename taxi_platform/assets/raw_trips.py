from collections.abc import Iterator

from dagster import AssetExecutionContext, BackfillPolicy, DataVersion, MaterializeResult, asset

from taxi_platform.assets.metadata import download_metadata, file_facts, stored
from taxi_platform.assets.ranges import RangeEvent, each_month
from taxi_platform.assets.unchanged import (
    conditions,
    held_raw,
    held_raw_file,
    is_current,
    offline_raw,
    raw_record,
    unchanged_raw,
)
from taxi_platform.failures import named_failures
from taxi_platform.partitions import trip_partitions
from taxi_platform.resources import DownloadFailed, Lake, TripSource
from taxi_platform.tlc import TripMonth, inspect_trip_file

# A range's months are fetched and checked side by side: a download waits on the network, and reading a
# gzip to check it is mostly zlib, which lets go of the GIL, so two cores check two months at once.
MONTHS_AT_ONCE = 4


@asset(
    partitions_def=trip_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    group_name="trips",
    kinds={"csv", "parquet"},
    description=(
        "The month's trip file exactly as published, from the first source that has it (by default the "
        "course's CSV release, then the TLC's parquet feed), at `raw/{color}/{YYYY}/{MM}/` as "
        "`{color}_tripdata_{YYYY}_{MM}.csv.gz` or `.parquet`. It replaces the previous copy only after it "
        "is read whole and has the color's columns. A rerun downloads nothing when the source's ETag / "
        "Last-Modified is the copy's (or a conditional GET answers 304); when no source can be reached, the "
        "copy held serves, with `source_checked: false`. The data version is the file's sha256."
    ),
)
def raw_trips(context: AssetExecutionContext, trip_source: TripSource, lake: Lake) -> Iterator[RangeEvent]:
    yield from each_month(context, lambda month: raw_trips_month(month, context, trip_source, lake), MONTHS_AT_ONCE)


def raw_trips_month(
    month: TripMonth, context: AssetExecutionContext, trip_source: TripSource, lake: Lake
) -> MaterializeResult:
    """One month of raw_trips: its metadata, as a run of that one partition records it."""
    # With a checked copy held, a source that is down gets two tries, not the resource's five: the copy serves.
    attempts = 2 if held_raw_file(lake, month) is not None else None
    with named_failures(month, trip_source.shown_url(month)):
        try:
            published = trip_source.locate(month, attempts)
        except DownloadFailed as unreachable:
            return offline_raw(context, lake, month, unreachable)
    target = month.raw_path_of(published.format)
    held = held_raw(lake, target, published)
    if is_current(held, published):
        return unchanged_raw(context, lake, target, held)
    with named_failures(month, published.url), lake.replace_file(target) as download:
        context.log.info(f"Downloading {month.label} from {published.source} ({published.url}) to {download.name}")
        fetched = trip_source.fetch(published, download, since=conditions(held, published))
        if fetched is not None:  # None: 304, the copy held is current and stays
            facts = inspect_trip_file(download.open_read, month.color, name=fetched.url)
            lake.keep_record(download, raw_record(published, fetched, facts))
    if fetched is None:
        assert held is not None, "a GET is conditional only on a copy held"
        return unchanged_raw(context, lake, target, held)
    for other in month.raw_paths:
        if other != target:  # the month was published in another format before: one file per partition
            lake.remove_file(other)
    context.log.info(f"{month.label}: {fetched.bytes} bytes, {facts.rows} rows in {fetched.seconds:.1f}s")
    return MaterializeResult(
        metadata={
            **stored(lake.describe(target)),
            **download_metadata(fetched),
            "source_checked": True,
            **file_facts(facts),
        },
        data_version=DataVersion(fetched.sha256),
    )
