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
from pathlib import Path

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
