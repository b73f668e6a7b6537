"""Runs the chain for months a source has published but raw_trips does not hold yet.

The sources are those `trip_source` downloads from, in its order (`TAXI_SOURCES`, default the course's
release, then the TLC's parquet feed): a month the TLC publishes next month is requested without a
click. Each tick HEADs (never downloads) at most `PROBES_PER_TICK` missing months, newest first, and
goes on where the last tick stopped (the cursor is the last month probed), so every missing month is
probed in turn while a tick stays a few requests. A source that fails ends the tick rather than being
retried within it (or asked about 11 more months); the month is probed again when its turn comes round,
so a source that is down is neither taken for missing months nor able to stall the sensor on one
month. The run key includes the source and the
file's version (ETag, Last-Modified or GCS generation): a month is requested once per published
version, and a failed run is not retried every tick, only when a source publishes the file again.
"""

from __future__ import annotations

from dagster import (
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from taxi_platform.assets import raw_trips
from taxi_platform.jobs import taxi_zones_job, trip_chain
from taxi_platform.partitions import partition_key, trip_month_of, trip_months
from taxi_platform.resources import DownloadFailed, TripSource
from taxi_platform.sensors.zones import zones_first
from taxi_platform.tlc.months import TripMonth

PROBES_PER_TICK = 12


def next_to_probe(
    order: list[TripMonth], missing: set[TripMonth], after: TripMonth | None, limit: int
) -> list[TripMonth]:
    """Up to `limit` missing months following `after` in `order`; from the start once past the end."""
    start = order.index(after) + 1 if after in order else 0
    later = [month for month in order[start:] if month in missing]
    return (later or [month for month in order if month in missing])[:limit]


@sensor(
    jobs=[trip_chain, taxi_zones_job],
    minimum_interval_seconds=15 * 60,
    default_status=DefaultSensorStatus.STOPPED,
    description=(
        f"HEADs up to {PROBES_PER_TICK} months a tick that raw_trips lacks, in each source in order (the course's "
        "release at TAXI_SOURCE_URL, the TLC's parquet feed at TAXI_TLC_URL; TAXI_SOURCES sets which), and runs "
        "trip_chain for each one a source has published (taxi_zones first, on an instance that never had it)."
    ),
)
def source_months_sensor(context: SensorEvaluationContext, trip_source: TripSource) -> SensorResult:
    if (first := zones_first(context)) is not None:
        return first
    order = trip_months()
    held = {trip_month_of(key) for key in context.instance.get_materialized_partitions(raw_trips.key)}
    missing = set(order) - held
    after = trip_month_of(context.cursor) if context.cursor else None
    requests: list[RunRequest] = []
    probed: list[TripMonth] = []
    for month in next_to_probe(order, missing, after, PROBES_PER_TICK):
        probed.append(month)  # past it even when it fails: one failing URL cannot stall the other months
        try:
            published = trip_source.probe(month, attempts=1)  # a later tick is the retry
        except DownloadFailed as error:
            context.log.warning(f"{error}; ending this tick, the month is probed again when its turn comes round")
            break
        if published is None:
            context.log.debug(f"{month.label}: not published by any source ({trip_source.shown_url(month)})")
            continue
        context.log.info(
            f"{published.url} is published by {published.source} ({published.size} bytes): requesting {month.label}"
        )
        key = partition_key(month)
        requests.append(
            RunRequest(
                job_name=trip_chain.name,
                run_key=f"{key}@{published.source}:{published.version}",
                partition_key=key,
                tags={"taxi_platform/source_file": published.url},
            )
        )
    cursor = str(partition_key(probed[-1])) if probed else context.cursor
    skip = None if requests else SkipReason(f"probed {len(probed)} of {len(missing)} missing months: none published")
    return SensorResult(run_requests=requests, cursor=cursor, skip_reason=skip)
