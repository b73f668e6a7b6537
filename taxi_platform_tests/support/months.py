"""More months of real trips: the committed January file with every timestamp moved N months on.

Only green 2021-01 is committed; sensors and backfills need several months. Moving each timestamp
by whole months (the day clamped to the target month's length) keeps the file's real shape: the
same rows, the block with empty VendorID, CRLF endings and the stray pickups from 2008/2009 and
the neighbouring months, now around the target month. Tests compute expected numbers from the
generated file itself (taxi_platform_tests.support.oracle), never from January's.
"""

from __future__ import annotations

import calendar
import gzip
import re
import shutil
from pathlib import Path

from taxi_platform.tlc import TripMonth
from taxi_platform.tlc.sources import ZONES_FILE
from taxi_platform_tests.support.data import GREEN_CSV, YELLOW_CSV, ZONE_LOOKUP

_TIMESTAMP_DATE = re.compile(rb"(\d{4})-(\d{2})-(\d{2}) ")


def _moved(match: re.Match[bytes], months: int) -> bytes:
    year, month = divmod(int(match[1]) * 12 + int(match[2]) - 1 + months, 12)
    day = min(int(match[3]), calendar.monthrange(year, month + 1)[1])
    return b"%04d-%02d-%02d " % (year, month + 1, day)


def moved_months(source: Path, months: int, target: Path, rows: int | None = None) -> Path:
    """Write `source` (.csv.gz) to `target` with its timestamps `months` later, keeping only its first
    `rows` data lines when given (a small month keeps a many-month run fast); returns `target`."""
    data = gzip.decompress(source.read_bytes())
    if rows is not None:
        data = b"".join(data.splitlines(keepends=True)[: rows + 1])
    moved = _TIMESTAMP_DATE.sub(lambda match: _moved(match, months), data)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(gzip.compress(moved, compresslevel=6, mtime=0))
    return target


def damaged_month(source: Path, target: Path, every: int, first: int = 2) -> list[int]:
    """Write `source` (.csv.gz) to `target` with every `every`-th data line cut to three fields (a
    malformed line: too few fields), starting at file line `first`; returns the 1-based line numbers cut."""
    lines = gzip.decompress(source.read_bytes()).split(b"\n")
    damaged = []
    for number in range(first, len(lines) + 1, every):
        line = lines[number - 1]
        if line.strip():
            lines[number - 1] = b",".join(line.split(b",")[:3])
            damaged.append(number)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(gzip.compress(b"\n".join(lines), compresslevel=6, mtime=0))
    return damaged


def mirror_folder(root: Path, rows: dict[TripMonth, int]) -> dict[TripMonth, Path]:
    """A folder laid out like the release, for a `MirrorServer`: each month of `rows` (green or yellow, from 2021-01)
    made from its color's committed January with `rows[month]` lines, and the zone lookup; returns each month's file."""
    yellow = root.parent / f"{root.name}-yellow-2021-01.csv.gz"  # beside the mirror, not served by it
    sources = {"green": GREEN_CSV, "yellow": yellow}
    if any(month.color == "yellow" for month in rows) and not yellow.exists():
        yellow.parent.mkdir(parents=True, exist_ok=True)
        yellow.write_bytes(gzip.compress(YELLOW_CSV.read_bytes(), mtime=0))
    served = {}
    for month, count in rows.items():
        moved = (month.month.year - 2021) * 12 + month.month.month - 1
        served[month] = moved_months(sources[month.color], moved, root / month.color / month.published_name(), count)
    (root / ZONES_FILE).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ZONE_LOOKUP, root / ZONES_FILE)
    return served
