"""Runs the chain for new months a source has published, one ranged run per trip type.

It watches for what is new, not the history: for each type, the months after its newest
materialized month, or every month from `TAXI_SENSOR_START` (the `month_watch` resource). A type
with neither is not watched (a ranged backfill loads the history; docs/operations.md). The sources
are those `trip_source` downloads from, in its order. Each tick HEADs (never downloads) at most
`PROBES_PER_TICK` watched months, oldest first, going on where the last tick stopped (the cursor is
the last month probed). A source that fails ends the tick rather than being retried within it; the
month is probed again when its turn comes round. The months of one type found published at once go
as one ranged run (the way a backfill runs them), whose run key holds each file's source and version
(ETag, Last-Modified or GCS generation): a file is requested once per published version, and a failed
run is not retried every tick, only when a source publishes the file again.
"""

from __future__ import annotations

import hashlib

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
from taxi_platform.partitions import RANGE_END, RANGE_START, partition_key, trip_month_of, trip_months
from taxi_platform.resources import DownloadFailed, MonthWatch, SourceFile, TripSource
from taxi_platform.sensors.zones import zones_first
from taxi_platform.tlc.months import COLORS, TripMonth

# The tags a run over a range of partitions carries (what `dagster asset materialize --partition-range` sets).

PROBES_PER_TICK = 12


def next_to_probe(
    order: list[TripMonth], missing: set[TripMonth], after: TripMonth | None, limit: int
) -> list[TripMonth]:
    """Up to `limit` missing months following `after` in `order`; from the start once past the end."""
    start = order.index(after) + 1 if after in order else 0
    later = [month for month in order[start:] if month in missing]
    return (later or [month for month in order if month in missing])[:limit]


def watched(order: list[TripMonth], held: set[TripMonth], watch: MonthWatch) -> tuple[set[TripMonth], list[str]]:
    """The months not held that the sensor watches, and the types it does not watch (nothing held, no start)."""
    months: set[TripMonth] = set()
    unwatched = []
    for color in COLORS:
        newest = max((month for month in held if month.color == color), key=lambda m: m.month, default=None)
        first = watch.first_month(color, newest)
        if first is None:
            unwatched.append(color)
            continue
        months |= {m for m in order if m.color == color and m.month >= first.month and m not in held}
    return months, unwatched


def ranged_requests(found: list[tuple[TripMonth, SourceFile]]) -> list[RunRequest]:
    """One request per run of consecutive months of one type (a single month is a partition's run)."""
    groups: list[list[tuple[TripMonth, SourceFile]]] = []
    for month, published in sorted(found, key=lambda item: (item[0].color, item[0].month)):
        if groups and groups[-1][-1][0].following == month:
            groups[-1].append((month, published))
        else:
            groups.append([(month, published)])
    requests = []
    for group in groups:
        versions = [f"{partition_key(month)}@{published.source}:{published.version}" for month, published in group]
        if len(group) == 1:
            [(month, published)] = group
            requests.append(
                RunRequest(
                    job_name=trip_chain.name,
                    run_key=versions[0],
                    partition_key=partition_key(month),
                    tags={"taxi_platform/source_file": published.url},
                )
            )
            continue
        first, last = str(partition_key(group[0][0])), str(partition_key(group[-1][0]))
        digest = hashlib.sha256("\n".join(versions).encode()).hexdigest()[:16]
        requests.append(
            RunRequest(
                job_name=trip_chain.name,
                run_key=f"{first}...{last}@{digest}",
                tags={RANGE_START: first, RANGE_END: last},
            )
        )
    return requests


@sensor(
    jobs=[trip_chain, taxi_zones_job],
    minimum_interval_seconds=15 * 60,
    default_status=DefaultSensorStatus.STOPPED,
    description=(
        "Runs trip_chain for new months a source has published (the course's release at TAXI_SOURCE_URL, the TLC's "
        "parquet feed at TAXI_TLC_URL; TAXI_SOURCES sets which): for each type, the months after its newest "
        "materialized month, or from TAXI_SENSOR_START; one ranged run per type. The history is a backfill's work."
    ),
)
def source_months_sensor(
    context: SensorEvaluationContext, trip_source: TripSource, month_watch: MonthWatch
) -> SensorResult:
    if (first := zones_first(context)) is not None:
        return first
    order = trip_months()
    held = {trip_month_of(key) for key in context.instance.get_materialized_partitions(raw_trips.key)}
    missing, unwatched = watched(order, held, month_watch)
    not_watched = (
        f"; not watching {' or '.join(unwatched)}: no month of it is materialized and TAXI_SENSOR_START is not "
        "set (backfill the months you want first)"
        if unwatched
        else ""
    )
    after = trip_month_of(context.cursor) if context.cursor else None
    found: list[tuple[TripMonth, SourceFile]] = []
    probed: list[TripMonth] = []
    for month in next_to_probe(sorted(order, key=lambda m: m.month), missing, after, PROBES_PER_TICK):
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
        found.append((month, published))
    requests = ranged_requests(found)
    cursor = str(partition_key(probed[-1])) if probed else context.cursor
    skip = (
        None
        if requests
        else SkipReason(f"probed {len(probed)} of {len(missing)} watched months: none published{not_watched}")
    )
    return SensorResult(run_requests=requests, cursor=cursor, skip_reason=skip)
