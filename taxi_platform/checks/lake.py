"""Reading a finished partition back from the lake, for checks."""

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from taxi_platform.assets.upstream import require_upstream
from taxi_platform.resources import LocalLake
from taxi_platform.tlc.months import TripMonth


def finished_parquet(lake: LocalLake, relative: str, asset: str, month: TripMonth) -> list[str]:
    """The parquet files of a finished lake partition; fails naming the asset to materialize first."""
    directory = lake.path(relative)
    require_upstream((directory / "_SUCCESS").is_file(), f"finished partition in {directory}", asset, month)
    return [str(p) for p in sorted(Path(directory.resolve()).glob("*.parquet"))]


def pickups_in_month(pickups: pa.ChunkedArray, month: TripMonth) -> pa.ChunkedArray:
    """True where the pickup is in [start, end) of the month; NULL pickups count as outside."""
    naive = pickups.cast(pa.timestamp("us"))
    return pc.fill_null(pc.and_(pc.greater_equal(naive, month.start), pc.less(naive, month.end)), False)
