"""Dagster resources: Spark, the trip source, the lake, the bucket, the warehouse."""

from taxi_platform.resources.bucket import LocalBucket, Published, TripBucket
from taxi_platform.resources.lake import LocalLake, tree_size
from taxi_platform.resources.spark import SparkResource
from taxi_platform.resources.trip_source import DownloadFailed, MonthNotPublished, TripSource
from taxi_platform.resources.warehouse import DuckDBWarehouse, LoadedSlice, RevenueWarehouse

__all__ = [
    "DownloadFailed",
    "DuckDBWarehouse",
    "LoadedSlice",
    "LocalBucket",
    "LocalLake",
    "MonthNotPublished",
    "Published",
    "RevenueWarehouse",
    "SparkResource",
    "TripBucket",
    "TripSource",
    "tree_size",
]
