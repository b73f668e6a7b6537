"""Runs the chain for months the source has published but raw_trips does not hold yet.

Each tick HEADs (never downloads) at most `PROBES_PER_TICK` missing months, newest first, and goes
on where the last tick stopped (the cursor is the last month probed), so every missing month is
probed in turn while a tick stays a few requests. The run key includes the file's ETag (or
Last-Modified): a month is requested once per published version, and a failed run is not retried
every tick, only when the source publishes the file again.
"""

from __future__ import annotations

from dagster import (
    DefaultSensorStatus,
    MultiPartitionKey,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from taxi_platform.assets import raw_trips
from taxi_platform.jobs import trip_chain
from taxi_platform.partitions import trip_partitions
from taxi_platform.resources import DownloadFailed, TripSource
from taxi_platform.tlc.months import TripMonth

PROBES_PER_TICK = 12


def probe_order() -> list[str]:
    """Every partition key, newest month first, colors in order within a month."""
    by_color = sorted(trip_partitions.get_partition_keys(), key=lambda k: k.keys_by_dimension["color"])
    return [str(k) for k in sorted(by_color, key=lambda k: k.keys_by_dimension["month"], reverse=True)]


def next_to_probe(order: list[str], missing: set[str], after: str | None, limit: int) -> list[str]:
    """Up to `limit` missing keys following `after` in `order`; from the start once past the end."""
    start = order.index(after) + 1 if after in order else 0
    later = [key for key in order[start:] if key in missing]
    return (later or [key for key in order if key in missing])[:limit]


@sensor(
    job=trip_chain,
    minimum_interval_seconds=15 * 60,
    default_status=DefaultSensorStatus.STOPPED,
    description=(
        f"HEADs up to {PROBES_PER_TICK} months a tick that raw_trips lacks at the source (TAXI_SOURCE_URL) "
        "and runs trip_chain for each one that is published."
    ),
)
def source_months_sensor(context: SensorEvaluationContext, trip_source: TripSource) -> SensorResult:
    order = probe_order()
    missing = set(order) - set(context.instance.get_materialized_partitions(raw_trips.key))
    probing = next_to_probe(order, missing, context.cursor, PROBES_PER_TICK)
    requests: list[RunRequest] = []
    for key in probing:
        dims = trip_partitions.get_partition_key_from_str(key).keys_by_dimension
        month = TripMonth.parse(dims["color"], dims["month"])
        try:
            published = trip_source.probe(month)
        except DownloadFailed as error:
            context.log.warning(f"{month.label}: {error}; probing it again on a later tick")
            continue
        if published is None:
            context.log.debug(f"{month.label}: not published at {trip_source.url(month)}")
            continue
        context.log.info(f"{published.url} is published ({published.size} bytes): requesting {month.label}")
        requests.append(
            RunRequest(
                run_key=f"{key}@{published.version}",
                partition_key=MultiPartitionKey(dims),
                tags={"taxi_platform/source_file": published.url},
            )
        )
    cursor = probing[-1] if probing else context.cursor
    skip = None if requests else SkipReason(f"probed {len(probing)} of {len(missing)} missing months: none published")
    return SensorResult(run_requests=requests, cursor=cursor, skip_reason=skip)
