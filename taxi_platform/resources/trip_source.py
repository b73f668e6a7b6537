"""Where monthly trip files come from: the course's release, or any http(s)/file mirror of it."""

from __future__ import annotations

import hashlib
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path

from dagster import ConfigurableResource, get_dagster_logger
from pydantic import Field

from taxi_platform.tlc.months import DEFAULT_SOURCE_URL, TripMonth

_CHUNK = 1 << 20
_PROGRESS_EVERY = 16 << 20


class MonthNotPublished(RuntimeError):
    """The source has no file for this month (HTTP 404 or no such file)."""


class DownloadFailed(RuntimeError):
    """The source kept failing (5xx, time-outs, dropped connections) after every retry."""


class _Retryable(Exception):
    pass


@dataclass(frozen=True)
class Downloaded:
    url: str
    bytes: int
    sha256: str
    attempts: int
    seconds: float


@dataclass(frozen=True)
class SourceFile:
    """What a HEAD request says about a published month, without downloading it."""

    url: str
    size: int | None
    version: str  # ETag, else Last-Modified, else the size: changes when the file is republished


def redact(url: str) -> str:
    """Drop user:password@ and query strings (signed URLs) before a URL reaches logs or metadata."""
    parts = urllib.parse.urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class TripSource(ConfigurableResource):
    """Downloads `{base_url}/{color}/{color}_tripdata_{YYYY}-{MM}.csv.gz`, streaming to disk."""

    base_url: str = Field(default=DEFAULT_SOURCE_URL, description="http(s):// or file:// base of the release.")
    timeout_seconds: float = Field(default=60.0, description="Socket time-out per attempt.")
    attempts: int = Field(default=5, description="Tries for 5xx answers, time-outs and dropped connections.")
    backoff_seconds: float = Field(default=2.0, description="First wait between tries; doubles each time.")

    def url(self, trip_month: TripMonth) -> str:
        return trip_month.source_url(self.base_url)

    def download(self, trip_month: TripMonth, destination: Path) -> Downloaded:
        """Write the month's file to `destination` (the caller moves it into place after checks)."""
        url = self.url(trip_month)
        log = get_dagster_logger()
        started = time.monotonic()
        for attempt in range(1, self.attempts + 1):
            try:
                size, digest = self._fetch_once(url, destination, log)
                return Downloaded(redact(url), size, digest, attempt, time.monotonic() - started)
            except _Retryable as error:
                if attempt == self.attempts:
                    raise DownloadFailed(
                        f"{trip_month.label}: {redact(url)} failed {attempt} times, last: {error}"
                    ) from None
                wait = self.backoff_seconds * 2 ** (attempt - 1)
                log.warning(f"{redact(url)}: {error}; retry {attempt + 1}/{self.attempts} in {wait:.1f}s")
                time.sleep(wait)
        raise AssertionError("unreachable")

    def probe(self, trip_month: TripMonth) -> SourceFile | None:
        """HEAD the month's file: None when it is not published; nothing is downloaded."""
        url = self.url(trip_month)
        request = urllib.request.Request(url, method="HEAD")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_seconds) as response:
                headers = response.headers
        except urllib.error.HTTPError as error:
            if error.code in (404, 410):
                return None
            raise DownloadFailed(f"{redact(url)}: HEAD answered HTTP {error.code} {error.reason}") from None
        except urllib.error.URLError as error:
            if isinstance(error.reason, FileNotFoundError):
                return None
            raise DownloadFailed(f"{redact(url)}: HEAD failed ({error.reason})") from None
        except (TimeoutError, ConnectionError, HTTPException) as error:
            raise DownloadFailed(f"{redact(url)}: HEAD failed ({error!r})") from None
        length = headers.get("Content-Length")
        version = headers.get("ETag") or headers.get("Last-Modified") or length or ""
        return SourceFile(redact(url), int(length) if length else None, version.strip('"'))

    def _fetch_once(self, url: str, destination: Path, log: logging.Logger) -> tuple[int, str]:
        try:
            response = urllib.request.urlopen(url, timeout=self.timeout_seconds)
        except urllib.error.HTTPError as error:
            if error.code in (404, 410):
                raise MonthNotPublished(
                    f"{redact(url)}: this month is not published (HTTP {error.code}); "
                    "check the month and color, or the source base TAXI_SOURCE_URL"
                ) from None
            if error.code >= 500 or error.code in (408, 429):
                raise _Retryable(f"HTTP {error.code} {error.reason}") from None
            raise DownloadFailed(f"{redact(url)}: HTTP {error.code} {error.reason}") from None
        except urllib.error.URLError as error:
            if isinstance(error.reason, FileNotFoundError):
                raise MonthNotPublished(f"{redact(url)}: this month is not published (no such file)") from None
            raise _Retryable(str(error.reason)) from None
        except (TimeoutError, ConnectionError, HTTPException) as error:
            raise _Retryable(repr(error)) from None

        expected = response.headers.get("Content-Length")
        digest = hashlib.sha256()
        size = 0
        next_report = _PROGRESS_EVERY
        try:
            with response, open(destination, "wb") as out:
                while chunk := response.read(_CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
                    if size >= next_report:
                        log.info(f"{redact(url)}: {size / 2**20:.0f} MiB downloaded")
                        next_report += _PROGRESS_EVERY
        except (TimeoutError, ConnectionError, HTTPException) as error:
            raise _Retryable(f"connection lost after {size} bytes ({error!r})") from None
        if expected is not None and int(expected) != size:
            raise _Retryable(f"connection closed after {size} of {expected} bytes")
        return size, digest.hexdigest()
