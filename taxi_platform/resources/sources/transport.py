"""What every transport implements, and the sink they all stream into."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from taxi_platform.resources.sources.errors import Retryable

CHUNK = 1 << 20
_PROGRESS_EVERY = 16 << 20
# The validators of a copy held (its answer's ETag / Last-Modified) and the conditional-GET header of each.
CONDITIONS = {"ETag": "If-None-Match", "Last-Modified": "If-Modified-Since"}


@dataclass(frozen=True)
class SourceFile:
    """What a HEAD request says about a published month, without downloading it."""

    url: str
    size: int | None
    version: str  # ETag, else Last-Modified, else the size: changes when the file is republished
    source: str = ""  # `release`, `tlc` or `landing`
    format: str = ""  # `csv.gz`, `parquet` or `csv` (the zone lookup)
    # True when the HEAD gave no ETag or Last-Modified: `version` is only the size, and only a
    # conditional GET (If-None-Match / If-Modified-Since) can tell an unchanged file.
    version_is_size: bool = False


class CheckedSink:
    """A write-only stream into the lake (a local file or an upload): hashes, counts and logs progress; `check`
    compares the length announced."""

    def __init__(self, out: BinaryIO, url: str, log: logging.Logger) -> None:
        self._out = out
        self._url = url
        self._log = log
        self._next_report = _PROGRESS_EVERY
        self.digest = hashlib.sha256()
        self.size = 0
        self.validators: dict[str, str] = {}  # the answer's ETag / Last-Modified, for a later conditional GET

    def write(self, chunk: bytes) -> int:
        self._out.write(chunk)
        self.digest.update(chunk)
        self.size += len(chunk)
        if self.size >= self._next_report:
            self._log.info(f"{self._url}: {self.size / 2**20:.0f} MiB downloaded")
            self._next_report += _PROGRESS_EVERY
        return len(chunk)

    def tell(self) -> int:
        return self.size

    def close(self) -> None:
        self._out.close()

    def check(self, expected: int | str | None) -> None:
        """A download that ended early is a transient failure, never a file."""
        if expected is not None and int(expected) != self.size:
            raise Retryable(f"download ended after {self.size} of {expected} bytes")


class Transport(Protocol):
    """How one URL scheme is read; errors are `MonthNotPublished`, `Retryable`, `NotModified` or `DownloadFailed`.

    `conditions` are the validators of the copy held (`CONDITIONS`' keys): a file that has not changed
    since raises `NotModified` and writes nothing.
    """

    def fetch(self, url: str, sink: CheckedSink, conditions: Mapping[str, str]) -> None: ...

    def probe(self, url: str) -> SourceFile | None: ...
