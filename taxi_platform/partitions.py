"""The one partitioning every asset shares, month (from 2019-01) x color, and its one key codec.

Keys are built and read only here: `partition_key(TripMonth)` and `trip_month_of(key)`. Everything
else (assets, checks, sensors, tests) speaks `TripMonth`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from dagster import (
    MonthlyPartitionsDefinition,
    MultiPartitionKey,
    MultiPartitionsDefinition,
    PartitionKeyRange,
    StaticPartitionsDefinition,
)

from taxi_platform.tlc.months import COLORS, TripMonth

FIRST_MONTH = "2019-01-01"
# The tags of a ranged run (a backfill with `BackfillPolicy.single_run`, `--partition-range`), and of one partition.
RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"
PARTITION = "dagster/partition"

trip_partitions = MultiPartitionsDefinition(
    {
        "month": MonthlyPartitionsDefinition(start_date=FIRST_MONTH),
        "color": StaticPartitionsDefinition(list(COLORS)),
    }
)


def partition_key(trip_month: TripMonth) -> MultiPartitionKey:
    """The key of a (color, month): its string form is `green|2021-01-01`."""
    return MultiPartitionKey({"month": trip_month.month.isoformat(), "color": trip_month.color})


def trip_month_of(key: str | MultiPartitionKey) -> TripMonth:
    """The (color, month) a key stands for, from a `MultiPartitionKey` or its string form."""
    if not isinstance(key, MultiPartitionKey):
        key = trip_partitions.get_partition_key_from_str(key)
    dims = key.keys_by_dimension
    return TripMonth(dims["color"], dt.date.fromisoformat(dims["month"]))


def is_partition(trip_month: TripMonth) -> bool:
    """True for a month the assets have: from 2019-01 up to the last finished month."""
    return trip_partitions.has_partition_key(partition_key(trip_month))


def trip_months() -> list[TripMonth]:
    """Every partition's (color, month), newest month first, colors in order within a month."""
    months = [trip_month_of(key) for key in trip_partitions.get_partition_keys()]
    return sorted(months, key=lambda m: (-m.month.toordinal(), COLORS.index(m.color)))


def run_partition_keys(tags: Mapping[str, str]) -> list[str]:
    """The partition keys a run's tags name: its range's, or its one partition (none for an unpartitioned run)."""
    if RANGE_START in tags and RANGE_END in tags:
        return list(trip_partitions.get_partition_keys_in_range(PartitionKeyRange(tags[RANGE_START], tags[RANGE_END])))
    return [tags[PARTITION]] if PARTITION in tags else []
