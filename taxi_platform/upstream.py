"""Upstream partitions an asset or a check reads from storage rather than through an IO manager."""

from dagster import Failure

from taxi_platform.tlc.months import TripMonth


def require_upstream(ready: bool, what: str, upstream: str, month: TripMonth) -> None:
    """Fail with a message that says which upstream partition to materialize first."""
    if not ready:
        raise Failure(f"{what} is missing: materialize {upstream} for {month.label} first")
