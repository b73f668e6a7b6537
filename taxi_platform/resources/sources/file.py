"""`file://`: a folder on this machine (a mirror, a mounted share); its version is the size and the mtime in ns."""

from __future__ import annotations

import os
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from taxi_platform.resources.sources.errors import NotModified, Retryable, not_published, redact
from taxi_platform.resources.sources.transport import CHUNK, CheckedSink, SourceFile


def _path(url: str) -> Path:
    return Path(urllib.request.url2pathname(urllib.parse.urlsplit(url).path))


def _version(status: os.stat_result) -> str:
    """Size and mtime in nanoseconds: a rewrite within the same second is seen (a whole-second time would not)."""
    return f"{status.st_size}-{status.st_mtime_ns}"


@dataclass(frozen=True)
class FileTransport:
    """A missing file is "not there"; any other error reading it is worth another try."""

    def fetch(self, url: str, sink: CheckedSink, conditions: Mapping[str, str]) -> None:
        """Copy into `sink`; the copy held is `NotModified` when its ETag is this file's version."""
        path = _path(url)
        try:
            with path.open("rb") as source:
                version = _version(os.fstat(source.fileno()))
                if conditions.get("ETag") == version:
                    raise NotModified(redact(url))
                sink.validators = {"ETag": version}
                while chunk := source.read(CHUNK):
                    sink.write(chunk)
        except FileNotFoundError:
            raise not_published(url, "no such file") from None
        except OSError as error:
            raise Retryable(f"reading {path}: {error}") from None
        sink.check(int(version.split("-")[0]))

    def probe(self, url: str) -> SourceFile | None:
        try:
            status = _path(url).stat()
        except FileNotFoundError:
            return None
        except OSError as error:
            raise Retryable(f"stat: {error}") from None
        return SourceFile(redact(url), status.st_size, _version(status))
