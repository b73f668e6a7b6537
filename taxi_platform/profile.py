"""The one place the environment is read: which profile, and where its data lives.

TAXI_PROFILE      `local` (default). `standalone` and `gcp` arrive with their issues.
TAXI_DATA_DIR     local lake, bucket stand-in and DuckDB file (default `./data`).
TAXI_SOURCE_URL   base of the monthly files (default: the course's release); resolved at run
                  time through `EnvVar`, so a token in it never lands in the definitions.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from dagster import EnvVar

from taxi_platform.resources import DuckDBWarehouse, LocalBucket, LocalLake, SparkResource, TripSource

PROFILES = ("local",)


def local_resources(
    data_dir: str | Path,
    source_url: str | EnvVar | None = None,
    spark_config: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything on this machine: Spark `local[*]`, a lake folder, a bucket folder, DuckDB."""
    root = Path(data_dir).expanduser().absolute()
    return {
        "trip_source": TripSource(base_url=source_url) if source_url else TripSource(),
        "spark": SparkResource(master="local[*]", spark_config=spark_config or {}),
        "lake": LocalLake(root=str(root)),
        "bucket": LocalBucket(root=str(root / "bucket")),
        "warehouse": DuckDBWarehouse(path=str(root / "warehouse.duckdb")),
    }


def resources_from_environment() -> dict[str, Any]:
    profile = os.environ.get("TAXI_PROFILE", "local")
    if profile not in PROFILES:
        raise ValueError(f"TAXI_PROFILE={profile!r} is not available; choose one of: {', '.join(PROFILES)}")
    return local_resources(
        data_dir=os.environ.get("TAXI_DATA_DIR", "data"),
        source_url=EnvVar("TAXI_SOURCE_URL") if os.environ.get("TAXI_SOURCE_URL") else None,
    )
