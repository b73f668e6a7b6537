"""Where monthly trip files come from: the course's release, any http(s)/file mirror of it, or a `gs://` prefix.

A `gs://` base is read with google-cloud-storage, imported only when such a base is used, so
importing this module (and the definitions) stays fast.
"""

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

from taxi_platform.resources.storage_client import storage_client
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

    base_url: str = Field(
        default=DEFAULT_SOURCE_URL, description="http(s)://, file:// or gs://bucket/prefix base of the release."
    )
    gcs_endpoint: str | None = Field(
        default=None,
        description="For a gs:// base: GCS API root of an emulator (anonymous); unset for Google Cloud (ADC).",
    )
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
        if url.startswith("gs://"):
            return self._probe_gcs(url)
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
        if url.startswith("gs://"):
            return self._fetch_gcs_once(url, destination, log)
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

    # gs:// bases: google-cloud-storage, imported here so that only runs reading GCS pay for it.

    def _gcs_blob(self, url: str):
        """The object's metadata (generation, size), or None when there is no such object or bucket."""
        from google.api_core import exceptions

        bucket, _, name = url[len("gs://") :].partition("/")
        client = storage_client(None, self.gcs_endpoint)  # no project needed to read
        try:
            return client.bucket(bucket).get_blob(name, timeout=self.timeout_seconds)
        except exceptions.NotFound:
            return None

    def _probe_gcs(self, url: str) -> SourceFile | None:
        from google.api_core import exceptions
        from google.auth import exceptions as auth_exceptions

        try:
            blob = self._gcs_blob(url)
        except (exceptions.GoogleAPICallError, auth_exceptions.GoogleAuthError, OSError) as error:
            raise DownloadFailed(f"{url}: metadata request failed ({error})") from None
        if blob is None:
            return None
        return SourceFile(url, blob.size, str(blob.generation))

    def _fetch_gcs_once(self, url: str, destination: Path, log: logging.Logger) -> tuple[int, str]:
        from google.api_core import exceptions
        from google.auth import exceptions as auth_exceptions
        from google.cloud.storage.exceptions import DataCorruption

        transient = (
            DataCorruption,  # the object's md5 did not match what arrived
            exceptions.TooManyRequests,
            exceptions.InternalServerError,
            exceptions.BadGateway,
            exceptions.ServiceUnavailable,
            exceptions.GatewayTimeout,
            exceptions.RetryError,
            auth_exceptions.TransportError,
            TimeoutError,
            ConnectionError,
            HTTPException,
        )
        try:
            import requests

            transient = (*transient, requests.exceptions.ConnectionError, requests.exceptions.Timeout)
        except ImportError:  # pragma: no cover - google-cloud-storage depends on requests
            pass
        not_published = MonthNotPublished(
            f"{url}: this month is not published (no such object); "
            "check the month and color, or the source base (TAXI_SOURCE_URL, or the landing TAXI_LANDING_URI)"
        )
        try:
            blob = self._gcs_blob(url)  # pins the generation: a re-upload mid-download is not mixed in
            if blob is None:
                raise not_published
            sink = _HashingSink(destination, url, log)
            try:
                blob.download_to_file(sink, timeout=self.timeout_seconds)
            finally:
                sink.close()
        except exceptions.NotFound:
            raise not_published from None  # removed between the metadata and the download
        except transient as error:
            raise _Retryable(f"{error!r}") from None
        except (exceptions.GoogleAPICallError, auth_exceptions.GoogleAuthError) as error:
            raise DownloadFailed(f"{url}: {error}") from None
        if blob.size is not None and int(blob.size) != sink.size:
            raise _Retryable(f"download ended after {sink.size} of {blob.size} bytes")
        return sink.size, sink.digest.hexdigest()


class _HashingSink:
    """A write-only file for `Blob.download_to_file`: streams to disk, hashing, counting and logging progress."""

    def __init__(self, destination: Path, url: str, log: logging.Logger) -> None:
        self._out = open(destination, "wb")  # noqa: SIM115 - closed by close()
        self._url = url
        self._log = log
        self._next_report = _PROGRESS_EVERY
        self.digest = hashlib.sha256()
        self.size = 0

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
