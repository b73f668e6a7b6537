"""The zone lookup as the tests need it: materialized before a chain, or served altered by the mirror."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from dagster import ExecuteInProcessResult, materialize

from taxi_platform.assets import taxi_zones
from taxi_platform.tlc.sources import ZONES_FILE
from taxi_platform_tests.support.data import REPO, ZONE_LOOKUP
from taxi_platform_tests.support.mirror import MirrorServer, Scripted


def materialize_zones(resources: dict[str, Any], **kwargs: Any) -> ExecuteInProcessResult:
    """Materialize taxi_zones with `resources`, as a user does once before the first revenue_report."""
    result = materialize([taxi_zones], resources=resources, **kwargs)
    if kwargs.get("raise_on_error", True):
        assert result.success
    return result


_ZONES_ON_GCP = """
import json, sys
from dagster import materialize
from taxi_platform.assets import taxi_zones
from taxi_platform.profile import gcp_resources
settings = json.loads(sys.argv[1])
assert materialize([taxi_zones], resources=gcp_resources(**settings)).success
"""


def materialize_zones_on_gcp(**settings: Any) -> None:
    """taxi_zones on `gcp_resources(**settings)` in a new process, whose JVM starts with the GCS connector.

    This process's JVM may have been started by an earlier test without it, and a JVM's classpath is
    fixed once it runs: a gs:// write from here would fail to find the connector.
    """
    done = subprocess.run(
        [sys.executable, "-c", _ZONES_ON_GCP, json.dumps(settings, default=str)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-5000:]


def lookup_lines() -> list[bytes]:
    """The committed lookup's lines, with their CRLF."""
    return ZONE_LOOKUP.read_bytes().splitlines(keepends=True)


def serve_lookup(mirror: MirrorServer, body: bytes) -> None:
    """The mirror answers the next download of the zone lookup (either source) with `body`."""
    mirror.script(ZONES_FILE, Scripted(200, body, content_type="text/csv"))


def lookup_without(location_id: int) -> bytes:
    """The committed lookup without the row of one LocationID."""
    return b"".join(line for line in lookup_lines() if not line.startswith(f"{location_id},".encode()))
