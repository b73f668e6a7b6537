"""Reading a finished partition back from the lake or the bucket, for checks.

pyarrow is imported where a check runs, not at import: `import taxi_platform.definitions` stays fast.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from taxi_platform.resources import LocalLake, TripBucket
from taxi_platform.tlc.months import TripMonth
from taxi_platform.upstream import require_upstream

if TYPE_CHECKING:
    import pyarrow as pa


def finished_parquet(lake: LocalLake, relative: str, asset: str, month: TripMonth) -> list[str]:
    """The parquet files of a finished lake partition; fails naming the asset to materialize first."""
    directory = lake.path(relative)
    require_upstream(lake.is_finished(relative), f"finished partition in {directory}", asset, month)
    return [str(p) for p in sorted(Path(directory.resolve()).glob("*.parquet"))]


@contextmanager
def finished_report(bucket: TripBucket, month: TripMonth) -> Iterator[list[str]]:
    """The report's parquet files, from the bucket (a local copy on GCS); fails naming revenue_report."""
    where = bucket.spark_path(month.report_path)
    require_upstream(bucket.is_published(month.report_path), f"finished report in {where}", "revenue_report", month)
    with bucket.local_copy(month.report_path) as folder:
        yield [str(p) for p in sorted(folder.glob("*.parquet"))]


def pickups_in_month(pickups: pa.ChunkedArray, month: TripMonth) -> pa.ChunkedArray:
    """True where the pickup is in [start, end) of the month; NULL pickups count as outside."""
    import pyarrow as pa
    import pyarrow.compute as pc

    naive = pickups.cast(pa.timestamp("us"))
    return pc.fill_null(pc.and_(pc.greater_equal(naive, month.start), pc.less(naive, month.end)), False)
