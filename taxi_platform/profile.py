"""The one place the environment is read: which profile to build.

TAXI_PROFILE is read here, at import; everything else reaches the resources through `EnvVar`,
resolved when a run starts (so nothing secret is in the definitions):

TAXI_DATA_DIR     local lake, its bucket zone and the DuckDB file (`scripts/dev`: `./data`).
TAXI_SOURCE_URL   base of the monthly files (`scripts/dev`: the course's release).
TAXI_LANDING_DIR  folder the landing sensor watches for new monthly files (`scripts/dev`: `./landing`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from dagster import EnvVar

from taxi_platform.resources import DuckDBWarehouse, LocalBucket, LocalLake, LocalLandingZone, SparkResource, TripSource

PROFILES = ("local",)


def local_resources(
    data_dir: str | Path | EnvVar,
    source_url: str | EnvVar,
    spark_config: dict[str, Any] | None = None,
    landing_dir: str | Path | EnvVar | None = None,
) -> dict[str, Any]:
    """Everything on this machine: Spark `local[*]`, a lake folder with its bucket zone, DuckDB."""
    lake = LocalLake(root=str(data_dir) if isinstance(data_dir, Path) else data_dir)
    landing_root = str(landing_dir) if isinstance(landing_dir, Path) else landing_dir
    landing = {} if landing_root is None else {"landing": LocalLandingZone(root=landing_root)}
    return {
        **landing,
        "trip_source": TripSource(base_url=source_url),
        "spark": SparkResource(master="local[*]", spark_config=spark_config or {}),
        "lake": lake,
        "bucket": LocalBucket(lake=lake),
        "warehouse": DuckDBWarehouse(lake=lake),
    }


def resources_for(profile: str) -> dict[str, Any]:
    if profile not in PROFILES:
        raise ValueError(f"TAXI_PROFILE={profile!r} is not available; choose one of: {', '.join(PROFILES)}")
    return local_resources(
        data_dir=EnvVar("TAXI_DATA_DIR"), source_url=EnvVar("TAXI_SOURCE_URL"), landing_dir=EnvVar("TAXI_LANDING_DIR")
    )


def resources_from_environment() -> dict[str, Any]:
    return resources_for(os.environ.get("TAXI_PROFILE", "local"))
