"""Dagster resources: Spark (local, standalone, Dataproc), the trip source, the landing zone, the lake,
the bucket, the warehouse.

The Google Cloud ones (`gcs_bucket`, `bigquery_warehouse`, `gcp`) are imported by the gcp profile only.
"""

from taxi_platform.resources.bucket import LocalBucket, Published, TripBucket
from taxi_platform.resources.dataproc import DataprocJobs
from taxi_platform.resources.lake import LocalLake, tree_size
from taxi_platform.resources.landing import LandedFile, LandingZone, LandingZoneMissing, LocalLandingZone
from taxi_platform.resources.spark import SparkResource
from taxi_platform.resources.trip_source import DownloadFailed, MonthNotPublished, SourceFile, TripSource
from taxi_platform.resources.warehouse import DuckDBWarehouse, LoadedSlice, RevenueWarehouse

__all__ = [
    "DataprocJobs",
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
