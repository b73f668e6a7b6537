"""One landing-sensor tick, as the daemon runs it, for the sensor tests over a folder or a bucket."""

from __future__ import annotations

from dagster import SensorResult, SkipReason, build_sensor_context

from taxi_platform.resources import LandingZone
from taxi_platform.sensors import landing_files_sensor


def tick(zone: LandingZone, cursor: str | None) -> tuple[list, str | None]:
    """(run requests, new cursor); the context is opened as the daemon opens it (nested resources need it)."""
    with build_sensor_context(cursor=cursor, resources={"landing": zone}) as context:
        result = landing_files_sensor(context)
    if isinstance(result, SkipReason):
        return [], cursor
    assert isinstance(result, SensorResult)
    return list(result.run_requests or []), result.cursor


def partition_keys(requests: list) -> list[str]:
    return [str(request.partition_key) for request in requests]
