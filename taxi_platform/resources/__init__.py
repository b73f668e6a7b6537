"""Dagster resources: the ports the assets use, and their local implementations.

Spark (in-process: `local[*]` or a standalone master), the trip source, the landing zone, the lake,
the bucket and the warehouse. The Google Cloud implementations live in `resources/gcp/` and are
imported by the gcp profile only, so nothing here imports a Google client library.
"""

from taxi_platform.resources.bucket import LocalBucket, Published, TripBucket
from taxi_platform.resources.lake import Lake, LocalLake, StagedFile, Stored, tree_size
from taxi_platform.resources.landing import LandedFile, LandingZone, LandingZoneMissing, LocalLandingZone
from taxi_platform.resources.sources import DownloadFailed, MonthNotPublished, SourceFile, TripSource
from taxi_platform.resources.spark import SparkResource, StageRun
from taxi_platform.resources.warehouse import DuckDBWarehouse, LoadedSlice, RevenueWarehouse
from taxi_platform.resources.watch import MonthWatch

__all__ = [
    "DownloadFailed",
    "DuckDBWarehouse",
    "Lake",
    "LandedFile",
    "LandingZone",
    "LandingZoneMissing",
    "LoadedSlice",
    "LocalBucket",
    "LocalLake",
    "LocalLandingZone",
    "MonthNotPublished",
    "MonthWatch",
    "Published",
    "RevenueWarehouse",
    "SourceFile",
    "SparkResource",
    "StageRun",
    "StagedFile",
    "Stored",
    "TripBucket",
    "TripSource",
    "tree_size",
]
