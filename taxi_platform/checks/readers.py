"""Reading a finished partition back from the lake or the bucket, for checks.

pyarrow is imported where a check runs, not at import: `import taxi_platform.definitions` stays fast.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from taxi_platform.audits import ParquetFiles, parquet_files
from taxi_platform.failures import require_upstream
from taxi_platform.resources import Lake, TripBucket
from taxi_platform.tlc.months import TripMonth


def finished_parquet(lake: Lake, relative: str, asset: str, month: TripMonth) -> ParquetFiles:
    """The parquet files of a finished lake partition; fails naming the asset to materialize first."""
    require_upstream(lake.is_finished(relative), f"finished partition in {lake.uri(relative)}", asset, month)
    return lake.parquet_files(lake.uri(relative))


def quarantine_files(lake: Lake, month: TripMonth) -> ParquetFiles:
    """The parquet files of a partition's published quarantine; none before the first quarantine was written."""
    if not lake.is_finished(month.quarantine_path):
        return ParquetFiles(())
    return lake.parquet_files(lake.uri(month.quarantine_path))


@contextmanager
def finished_report(bucket: TripBucket, month: TripMonth) -> Iterator[ParquetFiles]:
    """The report's parquet files, from the bucket (a local copy on GCS); fails naming revenue_report."""
    where = bucket.spark_path(month.report_path)
    require_upstream(bucket.is_published(month.report_path), f"finished report in {where}", "revenue_report", month)
    with bucket.local_copy(month.report_path) as folder:
        yield parquet_files(folder)
