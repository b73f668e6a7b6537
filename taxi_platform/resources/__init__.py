"""Dagster resources: Spark, the trip source, the landing zone, the lake, the bucket, the warehouse."""

from taxi_platform.resources.bucket import LocalBucket, Published, TripBucket
from taxi_platform.resources.lake import LocalLake, tree_size
from taxi_platform.resources.landing import LandedFile, LandingZone, LandingZoneMissing, LocalLandingZone
from taxi_platform.resources.spark import SparkResource
from taxi_platform.resources.trip_source import DownloadFailed, MonthNotPublished, SourceFile, TripSource
from taxi_platform.resources.warehouse import DuckDBWarehouse, LoadedSlice, RevenueWarehouse

__all__ = [
    "DownloadFailed",
    "DuckDBWarehouse",
    "LandedFile",
    "LandingZone",
    "LandingZoneMissing",
    "LoadedSlice",
    "LocalBucket",
    "LocalLake",
    "LocalLandingZone",
    "MonthNotPublished",
    "Published",
    "RevenueWarehouse",
    "SourceFile",
    "SparkResource",
    "TripBucket",
    "TripSource",
    "tree_size",
]
