"""Reading a finished partition back from the lake or the bucket, for checks.

pyarrow is imported where a check runs, not at import: `import taxi_platform.definitions` stays fast.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from taxi_platform.audits import parquet_files
from taxi_platform.failures import require_upstream
from taxi_platform.resources import LocalLake, TripBucket
from taxi_platform.tlc.months import TripMonth


def finished_parquet(lake: LocalLake, relative: str, asset: str, month: TripMonth) -> list[str]:
    """The parquet files of a finished lake partition; fails naming the asset to materialize first."""
    directory = lake.path(relative)
    require_upstream(lake.is_finished(relative), f"finished partition in {directory}", asset, month)
    return parquet_files(directory)


def quarantine_files(lake: LocalLake, month: TripMonth) -> list[str]:
    """The parquet files of a partition's published quarantine; none before the first quarantine was written."""
    return parquet_files(lake.path(month.quarantine_path)) if lake.is_finished(month.quarantine_path) else []


@contextmanager
def finished_report(bucket: TripBucket, month: TripMonth) -> Iterator[list[str]]:
    """The report's parquet files, from the bucket (a local copy on GCS); fails naming revenue_report."""
    where = bucket.spark_path(month.report_path)
    require_upstream(bucket.is_published(month.report_path), f"finished report in {where}", "revenue_report", month)
    with bucket.local_copy(month.report_path) as folder:
        yield parquet_files(folder)
