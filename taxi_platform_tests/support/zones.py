"""The zone lookup as the tests need it: materialized before a chain, or served altered by the mirror."""

from __future__ import annotations

from typing import Any

from dagster import ExecuteInProcessResult, materialize

from taxi_platform.assets import taxi_zones
from taxi_platform.tlc.sources import ZONES_FILE
from taxi_platform_tests.support.data import ZONE_LOOKUP
from taxi_platform_tests.support.mirror import MirrorServer, Scripted


def materialize_zones(resources: dict[str, Any], **kwargs: Any) -> ExecuteInProcessResult:
    """Materialize taxi_zones with `resources`, as a user does once before the first revenue_report."""
    result = materialize([taxi_zones], resources=resources, **kwargs)
    if kwargs.get("raise_on_error", True):
        assert result.success
    return result


def lookup_lines() -> list[bytes]:
    """The committed lookup's lines, with their CRLF."""
    return ZONE_LOOKUP.read_bytes().splitlines(keepends=True)


def serve_lookup(mirror: MirrorServer, body: bytes) -> None:
    """The mirror answers the next download of the zone lookup (either source) with `body`."""
    mirror.script(ZONES_FILE, Scripted(200, body, content_type="text/csv"))


def lookup_without(location_id: int) -> bytes:
    """The committed lookup without the row of one LocationID."""
    return b"".join(line for line in lookup_lines() if not line.startswith(f"{location_id},".encode()))
