"""The local profile's resources as the tests build them: the tests' Spark settings, quick download retries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from taxi_platform.profile import local_resources
from taxi_platform.resources import TripSource
from taxi_platform_tests.support.data import TEST_SPARK_CONFIG


def local_platform(data_dir: Path, source_url: str, master: str = "local[*]") -> dict[str, Any]:
    """`local_resources` over `data_dir`, downloading from `source_url` (a loopback mirror of both sources)."""
    resources = local_resources(data_dir, source_url=source_url, spark_config=TEST_SPARK_CONFIG, master=master)
    resources["trip_source"] = TripSource(base_url=source_url, tlc_url=source_url, backoff_seconds=0.05)
    return resources
