"""Checks that a downloaded monthly file is whole and is the color it claims to be."""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass
from pathlib import Path

from taxi_platform.tlc.schemas import TRIP_COLUMNS, header_of

_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20


class BadTripFile(ValueError):
    """A trip file that must not enter the lake; the message names the file and the problem."""

    def __init__(self, path: Path | str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = str(path)
        self.problem = problem


@dataclass(frozen=True)
class TripFileFacts:
    header: list[str]
    rows: int  # data lines, header excluded
    uncompressed_bytes: int
    color: str

    @property
    def unknown_columns(self) -> list[str]:
        """Columns the TLC added that the platform does not type: kept out of the typed schema, named."""
        return unknown_columns(self.header, self.color)


def _describe_non_gzip(start: bytes) -> str:
    text = start.lstrip().lower()
    if text.startswith((b"<!doctype html", b"<html", b"<?xml", b"<")):
        return "is an HTML/XML page, not a gzip file (the server answered with a web page instead of the data)"
    if text.startswith(b"vendorid"):
        return "is a plain CSV, not gzip-compressed"
    return f"is not a gzip file (starts with {start[:16]!r})"


def header_names(first_line: str) -> list[str]:
    """The column names of a CSV's first line (quotes and a CR dropped)."""
    return [name.strip().strip('"') for name in first_line.rstrip("\r").split(",")]


def unknown_columns(header: list[str], color: str) -> list[str]:
    """Columns of a file's header that the color's schema does not have (the TLC adds columns over time)."""
    known = set(header_of(color))
    return [name for name in header if name not in known]


def _header_problem(found: list[str], color: str) -> str | None:
    """None when the header has every column of the color (in any order, with any added ones)."""
    missing = [c for c in header_of(color) if c not in found]
    if not missing:
        repeated = sorted({name for name in found if found.count(name) > 1})
        return f"header names {repeated} more than once" if repeated else None
    for other in TRIP_COLUMNS:
        if other != color and all(c in found for c in header_of(other)):
            return f"has the {other} trip header, but this is the {color} partition"
    return f"header lacks the {color} trip columns {missing}"


def inspect_trip_file(path: Path, color: str, name: str | None = None) -> TripFileFacts:
    """Read the whole gzip once: proves it is complete, counts rows, checks the header.

    Memory stays flat: the file is streamed in 1 MiB chunks. Errors name `name` (e.g. the URL
    it came from) when given, else the path.
    """
    shown = name or str(path)
    with open(path, "rb") as raw:
        start = raw.read(64)
    if not start:
        raise BadTripFile(shown, "is empty")
    if not start.startswith(_GZIP_MAGIC):
        raise BadTripFile(shown, _describe_non_gzip(start))

    newlines = 0
    size = 0
    head = b""
    tail = b""
    try:
        with gzip.open(path, "rb") as stream:
            while chunk := stream.read(_CHUNK):
                if len(head) < 4096:
                    head += chunk[:4096]
                newlines += chunk.count(b"\n")
                size += len(chunk)
                tail = (tail + chunk)[-4096:]
    except EOFError:
        raise BadTripFile(shown, "gzip is truncated (the data ends before the end-of-stream marker)") from None
    except (gzip.BadGzipFile, zlib.error, OSError) as error:
        raise BadTripFile(shown, f"gzip is corrupt ({error})") from None

    if not head.strip():
        raise BadTripFile(shown, "holds no data (empty after decompression)")
    first_line = head.split(b"\n", 1)[0].rstrip(b"\r")
    header = header_names(first_line.decode("utf-8", "replace"))
    problem = _header_problem(header, color)
    if problem:
        raise BadTripFile(shown, problem)

    ends_with_newline = tail.endswith(b"\n")
    lines = newlines + (0 if ends_with_newline else 1)
    last_line = tail.rstrip(b"\r\n").rsplit(b"\n", 1)[-1].rstrip(b"\r")
    if lines > 1 and last_line.count(b",") != first_line.count(b","):
        raise BadTripFile(
            shown,
            f"last line has {last_line.count(b',') + 1} fields but the header has "
            f"{len(header)}: the file is cut off ({last_line[:40]!r})",
        )
    return TripFileFacts(header=header, rows=lines - 1, uncompressed_bytes=size, color=color)
