"""Which months `source_months_sensor` watches for: what is new, not the history (a ranged backfill loads that)."""

from __future__ import annotations

import datetime as dt
import re

from dagster import ConfigurableResource, EnvVar
from pydantic import Field, field_validator

_MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")


def check_start_month(start: str) -> None:
    """Raise ValueError for a start that is not a `YYYY-MM` month."""
    if not _MONTH.fullmatch(start):
        raise ValueError("not a month: write it as YYYY-MM, e.g. 2024-01")


class MonthWatch(ConfigurableResource):
    """From which month on the source sensor asks the sources about months raw_trips does not hold."""

    start: str | None = Field(
        default=None,
        description="`YYYY-MM`: watch every month from this one on (TAXI_SENSOR_START). Unset: each type's months "
        "after its newest materialized month; a type with none is not watched until a backfill loads some.",
    )

    @field_validator("start", mode="before")
    @classmethod
    def _known_month(cls, start: str | None) -> str | None:
        if start and not isinstance(start, EnvVar):  # an EnvVar's value is checked by the profile
            check_start_month(start)
        return start or None

    def first_month(self, newest_held: dt.date | None) -> dt.date | None:
        """The first month watched for one type, given its newest held month; None: that type is not watched."""
        if self.start:
            return dt.date.fromisoformat(f"{self.start}-01")
        if newest_held is None:
            return None
        return (newest_held.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
