"""The TLC's taxi zone lookup (`misc/taxi_zone_lookup.csv`): its columns, types and what makes a file usable.

The revenue report is per pickup zone (`revenue_zone` is a `LocationID`); the lookup names the zone.
A lookup is checked with Python's csv module before it enters the lake: a header that is not the four
columns, no rows, an id that is not an integer or an id listed twice would name zones wrongly in
every report built after it, so such a file never replaces the one published before.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from taxi_platform.tlc.schemas import ZONE_NAMES, TripColumn
from taxi_platform.tlc.validation import BadTripFile, FileToCheck, open_file

# The lookup's columns, in the file's order, with their types once typed.
ZONE_COLUMNS: tuple[TripColumn, ...] = (
    TripColumn("LocationID", "int"),
    TripColumn("Borough", "string"),
    TripColumn("Zone", "string"),
    TripColumn("service_zone", "string"),
)
ZONE_ID = "LocationID"
# Where the zones live: the raw file in the lake, the typed parquet in the bucket (`zones/`, no partitions).
RAW_ZONES_PATH = "raw/zones/taxi_zone_lookup.csv"
ZONES_PREFIX = "zones"


__all__ = [
    "RAW_ZONES_PATH",
    "ZONES_PREFIX",
    "ZONE_COLUMNS",
    "ZONE_ID",
    "ZONE_NAMES",
    "BadZoneFile",
    "ZoneFileFacts",
    "inspect_zone_file",
]


class BadZoneFile(BadTripFile):
    """A zone lookup that must not enter the lake; the message names the file and the problem."""


@dataclass(frozen=True)
class ZoneFileFacts:
    rows: int


def inspect_zone_file(path: FileToCheck, name: str | None = None) -> ZoneFileFacts:
    """Check a downloaded lookup: the four columns in order, rows, integer ids, each id once.

    Errors name `name` (e.g. the URL it came from) when given, else the path.
    """
    shown = name or str(path)
    try:
        with open_file(path) as raw:
            text = raw.read().decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise BadZoneFile(shown, f"is not UTF-8 text ({error})") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    expected = [column.name for column in ZONE_COLUMNS]
    if header is None:
        raise BadZoneFile(shown, "is empty")
    if [name.strip() for name in header] != expected:
        raise BadZoneFile(shown, f"header is {header}, not the zone lookup's {expected}")
    seen: dict[int, int] = {}
    rows: list[dict[str, str]] = []
    for line, row in enumerate(reader, start=2):
        if not row:
            continue
        if len(row) != len(expected):
            raise BadZoneFile(shown, f"line {line} has {len(row)} fields, not {len(expected)}: {row}")
        try:
            zone_id = int(row[0])
        except ValueError:
            raise BadZoneFile(shown, f"line {line}: LocationID {row[0]!r} is not an integer") from None
        if zone_id in seen:
            raise BadZoneFile(shown, f"LocationID {zone_id} is listed twice (lines {seen[zone_id]} and {line})")
        seen[zone_id] = line
        rows.append(dict(zip(expected, row, strict=True)))
    if not rows:
        raise BadZoneFile(shown, "holds no zones (a header and no rows)")
    return ZoneFileFacts(rows=len(rows))
