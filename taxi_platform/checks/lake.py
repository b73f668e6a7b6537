"""Reading a finished partition back from the lake, for checks."""

from pathlib import Path

from dagster import AssetCheckResult

from taxi_platform.resources import LocalLake


def partition_files(lake: LocalLake, relative: str) -> list[str]:
    """The parquet files of a finished lake partition (`_SUCCESS` written), else none."""
    directory = lake.path(relative)
    if not (directory / "_SUCCESS").is_file():
        return []
    return [str(p) for p in sorted(Path(directory.resolve()).glob("*.parquet"))]


def missing_partition(lake: LocalLake, relative: str) -> AssetCheckResult:
    return AssetCheckResult(passed=False, metadata={"problem": f"{lake.path(relative)} holds no finished partition"})
