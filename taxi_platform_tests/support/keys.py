"""Partition keys in tests, built with the platform's one codec (taxi_platform.partitions), never by hand."""

from __future__ import annotations

from taxi_platform.partitions import partition_key
from taxi_platform.tlc import TripMonth


def key(color: str, month: str) -> str:
    """The string key of a color's month (`2021-01`), as Dagster stores it and the UI's API takes it."""
    return str(partition_key(TripMonth.parse(color, month)))


def run_tags(color: str, month: str) -> list[dict[str, str]]:
    """The partition tags a run launched through the UI's API carries (the key and one per dimension)."""
    multi = partition_key(TripMonth.parse(color, month))
    tags = {"dagster/partition": str(multi)}
    tags |= {f"dagster/partition/{dimension}": value for dimension, value in multi.keys_by_dimension.items()}
    return [{"key": name, "value": value} for name, value in tags.items()]
