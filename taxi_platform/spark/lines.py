"""A month's text file (gzip or plain) cut into plain-text parts of whole lines, for Spark to read in parallel.

Spark reads a `.csv.gz` in one task (gzip cannot be split), so one core parses the month while the
others wait. Decompressing it here, as a stream (constant memory, big blocks), into a few plain parts
lets Spark give each part its own task. Counting each part's newlines on the way gives every part
its first line number, so the parts' lines keep their exact line numbers in the file (the quarantine
names them), and the file's line count, independently of Spark.
"""

from __future__ import annotations

import gzip
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from taxi_platform.tlc.validation import BadTripFile

BLOCK = 1 << 22  # bytes decompressed at a time
_GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class LineParts:
    """Plain-text parts of a file, in file order; each part's name is its first line number (1-based)."""

    paths: list[str]
    first_lines: list[int]
    lines: int  # lines of the whole file (a last line without a newline counts)
    header: str  # the first line, without its line end
    whole: bool = False  # one whole file Spark reads as it is (a `gs://` gzip, in one task), not cut parts

    @property
    def largest(self) -> int:
        return 0 if self.whole else max((os.path.getsize(path) for path in self.paths), default=0)


def whole_file(path: str, lines: int, header: str) -> LineParts:
    """A file that is not cut (a `gs://` gzip that only Spark reads): one part, its lines as raw_trips counted them."""
    return LineParts([path], [1], lines, header, whole=True)


def is_gzip(path: Path) -> bool:
    """Whether a file is gzip, told by its first bytes (as `split_lines` tells it)."""
    with open(path, "rb") as raw:
        return raw.read(2) == _GZIP_MAGIC


def whole_local_gzip(path: Path, lines: int) -> LineParts:
    """A local gzip read whole (one task), its lines as raw_trips counted them, its header read here."""
    with gzip.open(path, "rb") as text:
        header = text.readline().rstrip(b"\n").rstrip(b"\r").decode("utf-8", "replace")
    return whole_file(str(path), lines, header)


def part_name(first_line: int) -> str:
    """A part's file name, from which `first_line_of` reads its first line number back."""
    return f"{first_line:012d}.txt"


def split_lines(path: Path, folder: Path, parts: int) -> LineParts:
    """Write `path` (gzip, told by its first bytes, or plain) as up to `parts` plain parts of whole lines in `folder`.

    Parts are cut at the first newline past each `1/parts` of the (estimated) uncompressed size; a
    part that would be empty is not written.
    """
    folder.mkdir(parents=True, exist_ok=True)
    compressed = is_gzip(path)
    with open(path, "rb") as raw:
        size = _uncompressed_size(raw) if compressed else os.fstat(raw.fileno()).st_size
        raw.seek(0)
        stream: BinaryIO = gzip.GzipFile(fileobj=raw, mode="rb") if compressed else raw  # type: ignore[assignment]
        writer = _PartWriter(folder)
        target = max(1, -(-size // max(parts, 1)))
        offset, head = 0, b""
        try:
            while block := stream.read(BLOCK):
                if not head:
                    head = block.split(b"\n", 1)[0]
                start = 0
                while writer.index < parts - 1:
                    boundary = (writer.index + 1) * target - offset  # where the current part should end
                    if boundary > len(block):
                        break
                    cut = block.find(b"\n", max(boundary - 1, start))
                    if cut < 0:
                        break
                    writer.write(block[start : cut + 1])
                    writer.close_part()
                    start = cut + 1
                writer.write(block[start:])
                offset += len(block)
        except EOFError:
            raise BadTripFile(path, "gzip is truncated (the data ends before the end-of-stream marker)") from None
        except (gzip.BadGzipFile, zlib.error) as error:
            raise BadTripFile(path, f"gzip is corrupt ({error})") from None
        finally:
            writer.close_part()
    return LineParts(writer.paths, writer.first_lines, writer.lines, head.rstrip(b"\r").decode("utf-8", "replace"))


def _uncompressed_size(raw: BinaryIO) -> int:
    """The gzip trailer's size (modulo 4 GiB, of the last member): only an estimate, to size the parts."""
    raw.seek(0, os.SEEK_END)
    compressed = raw.tell()
    raw.seek(max(compressed - 4, 0))
    return max(int.from_bytes(raw.read(4), "little"), compressed)


class _PartWriter:
    """Writes parts one after the other, opened on their first bytes, counting their lines."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.paths: list[str] = []
        self.first_lines: list[int] = []
        self.index = 0  # the part being written (or the next to open)
        self.lines = 0  # complete lines written so far, plus a last unterminated one once closed
        self._file: BinaryIO | None = None
        self._last = b""

    def write(self, data: bytes) -> None:
        if not data:
            return
        if self._file is None:
            first = self.lines + 1
            self.paths.append(str(self.folder / part_name(first)))
            self.first_lines.append(first)
            self._file = open(self.paths[-1], "wb")  # noqa: SIM115 (closed by close_part)
        self._file.write(data)
        self.lines += data.count(b"\n")
        self._last = data[-1:]

    def close_part(self) -> None:
        if self._file is None:
            return
        self._file.close()
        self._file = None
        if self._last != b"\n":  # only the file's last part can end without a newline
            self.lines += 1
        self.index += 1
