"""Where the TLC trip files are published, and how each publisher lays them out.

Two publishers, tried in a configurable order (`TAXI_SOURCES`, default `release,tlc`):

- `release`: the course's release of the CSV files, 2019-01 to 2021-07:
  `{base}/{color}/{color}_tripdata_{YYYY}-{MM}.csv.gz`;
- `tlc`: the TLC's own feed, every month as parquet, about two months after it ends:
  `{base}/trip-data/{color}_tripdata_{YYYY}-{MM}.parquet`.

Both publish the zone lookup at `{base}/misc/taxi_zone_lookup.csv`.
"""

from __future__ import annotations

from dataclasses import dataclass

from taxi_platform.tlc.months import TripMonth

DEFAULT_TLC_URL = "https://d37ci6vzurychx.cloudfront.net"
DEFAULT_SOURCES = "release,tlc"
ZONES_FILE = "misc/taxi_zone_lookup.csv"


@dataclass(frozen=True)
class Layout:
    """One publisher's file names under its base URL."""

    name: str
    trip_folder: str  # `{color}` for the release, `trip-data` for the feed
    format: str  # the extension of its trip files: `csv.gz` or `parquet`

    def trip_file(self, trip_month: TripMonth) -> str:
        folder = self.trip_folder.format(color=trip_month.color)
        return f"{folder}/{trip_month.published_name(self.format)}"


LAYOUTS: dict[str, Layout] = {
    "release": Layout("release", "{color}", "csv.gz"),
    "tlc": Layout("tlc", "trip-data", "parquet"),
}


def source_order(text: str) -> tuple[str, ...]:
    """`release,tlc` -> ('release', 'tlc'); an unknown, repeated or empty list is a clear error."""
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = [name for name in names if name not in LAYOUTS]
    if unknown:
        raise ValueError(f"unknown source {unknown[0]!r}: list some of {', '.join(LAYOUTS)} in the order to try them")
    if not names:
        raise ValueError(f"no source listed: list some of {', '.join(LAYOUTS)} in the order to try them")
    if len(set(names)) != len(names):
        raise ValueError("a source is listed twice")
    return names


def join_url(base: str, relative: str) -> str:
    return f"{base.rstrip('/')}/{relative}"
