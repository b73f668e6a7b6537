"""The one partitioning every asset shares: month (from 2019-01) x color."""

from __future__ import annotations

import datetime as dt

from dagster import (
    AssetCheckExecutionContext,
    AssetExecutionContext,
    MonthlyPartitionsDefinition,
    MultiPartitionKey,
    MultiPartitionsDefinition,
    StaticPartitionsDefinition,
)

from taxi_platform.tlc.months import COLORS, TripMonth

trip_partitions = MultiPartitionsDefinition(
    {
        "month": MonthlyPartitionsDefinition(start_date="2019-01-01"),
        "color": StaticPartitionsDefinition(list(COLORS)),
    }
)


def partition_key(trip_month: TripMonth) -> MultiPartitionKey:
    return MultiPartitionKey({"month": trip_month.month.isoformat(), "color": trip_month.color})


def trip_month(context: AssetExecutionContext | AssetCheckExecutionContext) -> TripMonth:
    """The (color, month) a run's partition key stands for (in an asset or a check)."""
    key = context.partition_key
    if not isinstance(key, MultiPartitionKey):
        key = trip_partitions.get_partition_key_from_str(key)
    dims = key.keys_by_dimension
    return TripMonth(dims["color"], dt.date.fromisoformat(dims["month"]))
