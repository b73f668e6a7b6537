"""Which months `source_months_sensor` watches for: what is new, not the history (a ranged backfill loads that)."""

from __future__ import annotations

import re

from dagster import ConfigurableResource, EnvVar
from pydantic import Field, field_validator

from taxi_platform.tlc.months import TripMonth

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

    def first_month(self, color: str, newest_held: TripMonth | None) -> TripMonth | None:
        """The first month watched for one type, given its newest held month; None: that type is not watched."""
        if self.start:
            return TripMonth.parse(color, self.start)
        return None if newest_held is None else newest_held.following
