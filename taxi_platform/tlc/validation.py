"""Checks that a downloaded monthly file is whole and is the color it claims to be.

Two formats, told apart by their first bytes: a gzip CSV from the course's release (read to its end)
and a parquet file from the TLC's feed (its magic bytes at both ends and its footer read).
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

from taxi_platform.tlc.schemas import TRIP_COLUMNS, file_columns, header_of, required_columns, typed_columns

_GZIP_MAGIC = b"\x1f\x8b"
_PARQUET_MAGIC = b"PAR1"
_CHUNK = 1 << 20

# A file to check: a local path, or what opens it for reading (a lake object, read where it is).
FileToCheck = Path | Callable[[], BinaryIO]


def open_file(source: FileToCheck) -> BinaryIO:
    return open(source, "rb") if isinstance(source, Path) else source()


class BadTripFile(ValueError):
    """A trip file that must not enter the lake; the message names the file and the problem."""

    def __init__(self, path: Path | str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = str(path)
        self.problem = problem


@dataclass(frozen=True)
class TripFileFacts:
    header: list[str]  # the file's column names, in its order
    rows: int  # data lines (header excluded) or parquet rows
    uncompressed_bytes: int
    color: str
    format: str = "csv.gz"  # or `parquet`
    types: list[str] = field(default_factory=list)  # parquet: each column's Arrow type; CSV: empty (all text)

    @property
    def unknown_columns(self) -> list[str]:
        """Columns the TLC added that the platform does not type: kept out of the typed schema, named."""
        return unknown_columns(self.header, self.color)

    @property
    def missing_columns(self) -> list[str]:
        """Typed columns the file does not have (an early year's file): NULL in the typed trips."""
        return missing_columns(self.header, self.color)

    @property
    def column_types(self) -> list[tuple[str, str]]:
        """(name, type) of the file's columns as they are stored: text for a CSV."""
        return list(zip(self.header, self.types or ["string"] * len(self.header), strict=True))


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
    """Columns of a file that the color's typed schema does not have (the TLC adds columns over time)."""
    known = file_columns(header, color)
    return [name for name in header if name not in known]


def missing_columns(header: list[str], color: str) -> list[str]:
    """Typed columns a file with `header` does not have: NULL in its typed trips (an early year's file)."""
    present = set(file_columns(header, color).values())
    return [column.name for column in typed_columns(color) if column.name not in present]


def _header_problem(found: list[str], color: str) -> str | None:
    """None when the file has the color's required columns (in any order, with any others, any case)."""
    typed = file_columns(found, color)
    typed_names = [typed[name] for name in found if name in typed]
    missing = [name for name in required_columns(color) if name not in typed_names]
    if not missing:
        repeated = sorted({name for name in typed_names if typed_names.count(name) > 1})
        return f"header names {repeated} more than once" if repeated else None
    for other in TRIP_COLUMNS:
        if other != color and all(c in found for c in header_of(other)):
            return f"has the {other} trip header, but this is the {color} partition"
    return f"header lacks the {color} trip columns {missing}"


def inspect_trip_file(path: FileToCheck, color: str, name: str | None = None) -> TripFileFacts:
    """Check a downloaded file, gzip CSV or parquet (told by its first bytes), before it enters the lake.

    Errors name `name` (e.g. the URL it came from) when given, else the path.
    """
    shown = name or str(path)
    with open_file(path) as raw:
        start = raw.read(64)
    if not start:
        raise BadTripFile(shown, "is empty")
    if start.startswith(_PARQUET_MAGIC):
        return _inspect_parquet(path, color, shown)
    if not start.startswith(_GZIP_MAGIC):
        raise BadTripFile(shown, _describe_non_gzip(start))
    return _inspect_gzip_csv(path, color, shown)


def _inspect_parquet(path: FileToCheck, color: str, shown: str) -> TripFileFacts:
    """The magic bytes at both ends and the footer read: a file cut short or corrupt never enters the lake."""
    with open_file(path) as raw:
        raw.seek(0, 2)
        size = raw.tell()
        raw.seek(max(size - 4, 0))
        end = raw.read(4)
        if size < 12 or end != _PARQUET_MAGIC:
            raise BadTripFile(shown, "parquet file is cut off (it does not end with the PAR1 footer marker)")
        try:
            raw.seek(0)
            parquet = pq.ParquetFile(raw)
            metadata, schema = parquet.metadata, parquet.schema_arrow
        except (pa.ArrowException, OSError) as error:
            raise BadTripFile(shown, f"parquet footer cannot be read ({error})") from None
    header = list(schema.names)
    problem = _header_problem(header, color)
    if problem:
        raise BadTripFile(shown, problem)
    if metadata.num_rows == 0:
        raise BadTripFile(shown, "parquet file holds no rows")
    return TripFileFacts(
        header=header,
        rows=metadata.num_rows,
        uncompressed_bytes=sum(metadata.row_group(i).total_byte_size for i in range(metadata.num_row_groups)),
        color=color,
        format="parquet",
        types=[str(field.type) for field in schema],
    )


def _inspect_gzip_csv(path: FileToCheck, color: str, shown: str) -> TripFileFacts:
    """Read the whole gzip once: proves it is complete, counts rows, checks the header (memory stays flat)."""

    newlines = 0
    size = 0
    head = b""
    tail = b""
    try:
        with open_file(path) as raw, gzip.GzipFile(fileobj=raw, mode="rb") as stream:
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
