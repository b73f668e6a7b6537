"""Runs the chain for each monthly file (`.csv.gz` or `.parquet`) that lands in the landing zone.

The cursor is a high-water mark: the largest file version handled so far plus the names handled at
exactly that version (versions are ctimes or GCS generations, so several files can share one).
A file is new when its version is past the mark, which covers both a first landing and a
republished file (rewriting bumps the version); a file already handled is not. Only new files are
parsed, checked, logged and requested, oldest first and at most `MAX_RUNS_PER_TICK`, so a tick's
work and the cursor's size grow with what is new, not with the zone. Dagster keeps the cursor in
the instance's storage, so it survives a daemon restart; run keys (path@version) keep a lost cursor
update from launching a file twice.
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass, field

from dagster import (
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from taxi_platform.jobs import taxi_zones_job, trip_chain
from taxi_platform.partitions import is_partition, partition_key
from taxi_platform.resources import LandedFile, LandingZone, LandingZoneMissing
from taxi_platform.sensors.zones import zones_first
from taxi_platform.tlc.months import TripMonth

MAX_RUNS_PER_TICK = 25
LANDED_FILE_TAG = "taxi_platform/landed_file"


@dataclass(frozen=True)
class LandingCursor:
    version: int = -1
    handled_at_version: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def parse(cls, text: str | None) -> LandingCursor:
        if not text:
            return cls()
        data = json.loads(text)
        return cls(int(data["version"]), frozenset(data["handled_at_version"]))

    def serialize(self) -> str:
        return json.dumps({"version": self.version, "handled_at_version": sorted(self.handled_at_version)})

    def is_new(self, landed: LandedFile) -> bool:
        if landed.version != self.version:
            return landed.version > self.version
        return landed.relative not in self.handled_at_version

    def past(self, landed: LandedFile) -> LandingCursor:
        """The mark after handling `landed` (files are handled in (version, path) order)."""
        if landed.version == self.version:
            return LandingCursor(self.version, self.handled_at_version | {landed.relative})
        return LandingCursor(landed.version, frozenset({landed.relative}))


def landed_month(relative: str) -> TripMonth | str:
    """The partition a landed file is for, or why it is not one."""
    normalized = posixpath.normpath(relative)
    if normalized == ".." or normalized.startswith("../") or posixpath.isabs(normalized):
        return "it is outside the landing folder (a link or a path escaping it)"
    folder, _, name = normalized.rpartition("/")
    month = TripMonth.from_remote_name(name)
    if month is None:
        return "the name is not {color}_tripdata_{YYYY}-{MM}.csv.gz or .parquet"
    if folder != month.color:
        return f"a {month.color} file belongs in the {month.color}/ folder of the landing zone"
    if not is_partition(month):
        return f"{month.yyyy_mm} is not a month of the partitions (2019-01 up to last month)"
    return month


@sensor(
    jobs=[trip_chain, taxi_zones_job],
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.STOPPED,
    description=(
        "Runs trip_chain for each `{color}/{color}_tripdata_{YYYY}-{MM}.csv.gz` or `.parquet` that appears "
        "(or is replaced) in the landing zone (TAXI_LANDING_DIR, or TAXI_LANDING_URI=gs://bucket/prefix on the "
        "gcp profile); the run takes exactly that landed file (taxi_zones first, on an instance that never had it)."
    ),
)
def landing_files_sensor(context: SensorEvaluationContext, landing: LandingZone) -> SensorResult | SkipReason:
    if (first := zones_first(context)) is not None:
        return first
    cursor = LandingCursor.parse(context.cursor)
    try:
        new = sorted((f for f in landing.list_files() if cursor.is_new(f)), key=lambda f: (f.version, f.relative))
    except LandingZoneMissing as error:
        return SkipReason(str(error))
    requests: list[RunRequest] = []
    for landed in new:
        if len(requests) == MAX_RUNS_PER_TICK:
            context.log.info(f"{len(new)} new files; the rest wait for the next tick")
            break
        cursor = cursor.past(landed)
        month = landed_month(landed.relative)
        if isinstance(month, str):
            context.log.warning(f"Skipping {landed.uri}: {month}")
            continue
        context.log.info(f"{landed.uri} ({landed.size} bytes) landed: requesting {month.label}")
        requests.append(
            RunRequest(
                job_name=trip_chain.name,
                run_key=f"{landed.relative}@{landed.version}",
                partition_key=partition_key(month),
                # The run takes this file: raw_trips checks and copies it like a published one, in its format.
                run_config={"resources": {"trip_source": {"config": landing.trip_source_config(landed.relative)}}},
                tags={LANDED_FILE_TAG: landed.uri},
            )
        )
    skip = None if requests else SkipReason(f"no new monthly files in {landing.source_url}")
    return SensorResult(run_requests=requests, cursor=cursor.serialize(), skip_reason=skip)
