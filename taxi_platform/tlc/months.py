"""One month of one taxi color, and every name derived from it."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass

COLORS: tuple[str, ...] = ("green", "yellow")

DEFAULT_SOURCE_URL = "https://github.com/DataTalksClub/nyc-tlc-data/releases/download"

# The formats a month is published in, by extension: the course's CSV release and the TLC's parquet feed.
FORMATS: tuple[str, ...] = ("csv.gz", "parquet")
_REMOTE_NAME = re.compile(r"^(?P<color>[a-z]+)_tripdata_(?P<year>\d{4})-(?P<month>\d{2})\.(?P<format>csv\.gz|parquet)$")


@dataclass(frozen=True)
class TripMonth:
    """A (color, month) pair: the unit of every partition in the platform."""

    color: str
    month: dt.date  # first day of the month

    def __post_init__(self) -> None:
        if self.color not in COLORS:
            raise ValueError(f"unknown taxi color {self.color!r}; expected one of {', '.join(COLORS)}")
        if self.month.day != 1:
            raise ValueError(f"month must be the first day of a month, got {self.month.isoformat()}")

    @classmethod
    def parse(cls, color: str, month: str) -> TripMonth:
        """Accept `2021-01` or `2021-01-01`."""
        return cls(color, dt.date.fromisoformat(month if len(month) > 7 else f"{month}-01"))

    @classmethod
    def from_remote_name(cls, name: str) -> TripMonth | None:
        """The month a published file name stands for (`green_tripdata_2021-01.csv.gz` or `.parquet`), else None."""
        match = _REMOTE_NAME.match(name)
        if not match or match["color"] not in COLORS or not 1 <= int(match["month"]) <= 12:
            return None
        return cls(match["color"], dt.date(int(match["year"]), int(match["month"]), 1))

    @property
    def yyyy(self) -> str:
        return f"{self.month.year:04d}"

    @property
    def mm(self) -> str:
        return f"{self.month.month:02d}"

    @property
    def yyyy_mm(self) -> str:
        """`2021-01`: the month as the course and the TLC write it in file names and arguments."""
        return f"{self.yyyy}-{self.mm}"

    @property
    def label(self) -> str:
        return f"{self.color} {self.yyyy_mm}"

    @property
    def start(self) -> dt.datetime:
        return dt.datetime(self.month.year, self.month.month, 1)

    @property
    def end(self) -> dt.datetime:
        """Exclusive end: the first instant of the next month."""
        year, month = divmod(self.month.year * 12 + self.month.month, 12)
        return dt.datetime(year, month + 1, 1)

    @property
    def following(self) -> TripMonth:
        """The same color, one month later."""
        return TripMonth(self.color, self.end.date())

    def published_name(self, file_format: str = "csv.gz") -> str:
        """Name as published, by the release (`.csv.gz`) or the TLC (`.parquet`): hyphen between year and month."""
        return f"{self.color}_tripdata_{self.yyyy_mm}.{_known(file_format)}"

    @property
    def remote_name(self) -> str:
        """Name in the course's release (hyphen between year and month)."""
        return self.published_name("csv.gz")

    def raw_name(self, file_format: str = "csv.gz") -> str:
        """Name in the lake (underscore, as the course's download script writes it)."""
        return f"{self.color}_tripdata_{self.yyyy}_{self.mm}.{_known(file_format)}"

    @property
    def local_name(self) -> str:
        return self.raw_name("csv.gz")

    @property
    def month_path(self) -> str:
        """`{color}/{YYYY}/{MM}`: the tail every lake zone shares."""
        return f"{self.color}/{self.yyyy}/{self.mm}"

    @property
    def raw_path(self) -> str:
        """The raw partition of a month from the release (`.csv.gz`)."""
        return self.raw_path_of("csv.gz")

    def raw_path_of(self, file_format: str) -> str:
        """The raw partition holding the file as published, in the format it was published in."""
        return f"raw/{self.month_path}/{self.raw_name(file_format)}"

    @property
    def raw_paths(self) -> tuple[str, ...]:
        """Every place the month's raw file can be, one per format (a partition holds one of them)."""
        return tuple(self.raw_path_of(file_format) for file_format in FORMATS)

    @property
    def typed_path(self) -> str:
        return f"pq/{self.month_path}"

    @property
    def quarantine_path(self) -> str:
        """The lines of the raw file that are not trips (line, text, reason): a zone of its own."""
        return f"quarantine/{self.month_path}"

    @property
    def report_path(self) -> str:
        return f"report/revenue/{self.month_path}"


def file_format(name: str) -> str:
    """The format of a published or raw file by its name: `csv.gz` or `parquet`."""
    for known in FORMATS:
        if name.endswith(f".{known}"):
            return known
    raise ValueError(f"{name}: not a trip file name (expected .{' or .'.join(FORMATS)})")


def _known(file_format: str) -> str:
    if file_format not in FORMATS:
        raise ValueError(f"unknown trip file format {file_format!r}; expected one of {', '.join(FORMATS)}")
    return file_format


def range_label(months: Sequence[TripMonth]) -> str:
    """`green 2021-01..2021-06` (one month: `green 2021-01`): a ranged stage's months, for its jobs' names."""
    first, last = months[0], months[-1]
    return first.label if len(months) == 1 else f"{first.label}..{last.yyyy_mm}"
