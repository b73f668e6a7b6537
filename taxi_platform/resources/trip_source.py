"""Where monthly trip files come from: the course's release and the TLC's feed, in a configured order.

A month is looked for in each source in turn (`TAXI_SOURCES`, default `release,tlc`): a HEAD (or
the object's metadata) that says "not here" (404, 410, no such file) moves on to the next source at
once; a transient failure (5xx, 408/429, time-out, dropped connection) is retried like a download,
and if it lasts, or for any other failure, the search stops, since a source that is down is not a
month that is missing. The file is then downloaded from the first source that has it. A base may
be `http(s)://`, `file://` or `gs://`; redirects are followed (a HEAD stays a HEAD).

Each URL scheme picks one transport once (`http(s)://` and `file://` here, `gs://` in
`resources/gcp/source.py`, imported only when such a base is used). Every transport streams into
the same `CheckedSink`, which hashes, counts, logs progress and checks the length; `TripSource`
owns the retries.
"""

from __future__ import annotations

import hashlib
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
import urllib.response
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from email.message import Message
from functools import partial
from http.client import HTTPException, HTTPResponse
from pathlib import Path
from typing import IO, Protocol, TypeVar

from dagster import ConfigurableResource, EnvVar, get_dagster_logger
from pydantic import Field, PrivateAttr, field_validator

from taxi_platform.tlc.months import DEFAULT_SOURCE_URL, TripMonth, file_format
from taxi_platform.tlc.sources import DEFAULT_SOURCES, DEFAULT_TLC_URL, LAYOUTS, ZONES_FILE, join_url, source_order

_CHUNK = 1 << 20
_PROGRESS_EVERY = 16 << 20
_SCHEMES = ("http://", "https://", "file://", "gs://")


def check_base_url(base_url: str) -> None:
    """Raise ValueError for a base this platform cannot download from."""
    if not base_url.startswith(_SCHEMES):
        raise ValueError(f"not a base this platform downloads from: use one of {', '.join(_SCHEMES)}")


T = TypeVar("T")


class MonthNotPublished(RuntimeError):
    """The source has no file for this month (HTTP 404 or no such file)."""


class DownloadFailed(RuntimeError):
    """The source kept failing (5xx, time-outs, dropped connections) after every retry."""


class NotModified(Exception):
    """A conditional GET answered 304: the file is the one downloaded before."""


class Retryable(Exception):
    """A transient failure of one attempt (5xx, time-out, dropped connection, short read): try again."""


@dataclass(frozen=True)
class Downloaded:
    url: str
    bytes: int
    sha256: str
    attempts: int
    seconds: float
    source: str = ""
    format: str = ""
    # The GET's ETag / Last-Modified: what a later conditional GET asks with (a HEAD may not give them).
    validators: Mapping[str, str] = field(default_factory=dict)


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


@dataclass(frozen=True)
class Candidate:
    """Where one source would publish a file: the source's name, the URL and the file's format."""

    source: str
    url: str
    format: str


def redact(url: str) -> str:
    """Drop user:password@ and query strings (signed URLs) before a URL reaches logs or metadata."""
    parts = urllib.parse.urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class CheckedSink:
    """A write-only stream to disk: hashes, counts and logs progress; `check` compares the length announced."""

    def __init__(self, destination: Path, url: str, log: logging.Logger) -> None:
        self._out = open(destination, "wb")  # noqa: SIM115 - closed by close()
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
    """How one kind of base URL is read; errors are `MonthNotPublished`, `Retryable` or `DownloadFailed`."""

    def fetch(self, url: str, sink: CheckedSink, conditions: Mapping[str, str] | None = None) -> None: ...

    def probe(self, url: str) -> SourceFile | None: ...


def not_published(url: str, why: str) -> MonthNotPublished:
    return MonthNotPublished(
        f"{redact(url)}: this month is not published ({why}); check the month and color, or the source bases "
        "(TAXI_SOURCE_URL, TAXI_TLC_URL, TAXI_SOURCES, or the landing zone's TAXI_LANDING_DIR / TAXI_LANDING_URI)"
    )


class _HeadStaysHead(urllib.request.HTTPRedirectHandler):
    """Follow a redirect of a HEAD with a HEAD: urllib (3.11) follows it with a GET, which starts a download."""

    def redirect_request(
        self, req: urllib.request.Request, fp: IO[bytes], code: int, msg: str, headers: Message, newurl: str
    ) -> urllib.request.Request | None:
        redirected = super().redirect_request(req, fp, code, msg, headers, newurl)
        if redirected is not None and req.get_method() == "HEAD":
            redirected.method = "HEAD"
        return redirected


_OPENER = urllib.request.build_opener(_HeadStaysHead())


# Answers that mean "no such file". S3 behind CloudFront (the TLC's feed) answers 403, not 404, for a key that
# does not exist (a month not published yet), since listing its bucket is not public.
_ABSENT = (403, 404, 410)
# Response headers a later conditional GET sends back (as If-None-Match and If-Modified-Since).
_VALIDATORS = ("ETag", "Last-Modified")


@dataclass(frozen=True)
class UrllibTransport:
    """`http(s)://` and `file://` through urllib (redirects followed): a 403/404/410 or a missing file is not there."""

    timeout_seconds: float

    def _open(self, request: urllib.request.Request | str) -> HTTPResponse | urllib.response.addinfourl:
        """Open a GET or HEAD; failures are `MonthNotPublished` (not there), `Retryable` or `DownloadFailed`."""
        url = request.full_url if isinstance(request, urllib.request.Request) else request
        try:
            return _OPENER.open(request, timeout=self.timeout_seconds)
        except urllib.error.HTTPError as error:
            if error.code == 304:
                raise NotModified(redact(url)) from None
            if error.code in _ABSENT:
                raise not_published(url, f"HTTP {error.code}") from None
            if error.code >= 500 or error.code in (408, 429):
                raise Retryable(f"HTTP {error.code} {error.reason}") from None
            raise DownloadFailed(f"{redact(url)}: HTTP {error.code} {error.reason}") from None
        except urllib.error.URLError as error:
            if isinstance(error.reason, FileNotFoundError):
                raise not_published(url, "no such file") from None
            raise Retryable(str(error.reason)) from None
        except (TimeoutError, ConnectionError, HTTPException) as error:
            raise Retryable(repr(error)) from None

    def fetch(self, url: str, sink: CheckedSink, conditions: Mapping[str, str] | None = None) -> None:
        """GET into `sink`; with `conditions` (If-None-Match, If-Modified-Since) a 304 raises `NotModified`."""
        response = self._open(urllib.request.Request(url, headers=dict(conditions or {})))
        sink.validators = {name: response.headers[name] for name in _VALIDATORS if response.headers.get(name)}
        try:
            with response:
                while chunk := response.read(_CHUNK):
                    sink.write(chunk)
        except (TimeoutError, ConnectionError, HTTPException) as error:
            raise Retryable(f"connection lost after {sink.size} bytes ({error!r})") from None
        sink.check(response.headers.get("Content-Length"))

    def probe(self, url: str) -> SourceFile | None:
        try:
            with self._open(urllib.request.Request(url, method="HEAD")) as response:
                headers = response.headers
        except MonthNotPublished:
            return None
        except Retryable as error:
            raise Retryable(f"HEAD: {error}") from None
        length = headers.get("Content-Length")
        validator = headers.get("ETag") or headers.get("Last-Modified")
        if url.startswith("file://"):  # urllib's Last-Modified has whole seconds: a rewrite within one is missed
            status = Path(urllib.request.url2pathname(urllib.parse.urlsplit(url).path)).stat()
            validator = f"{status.st_size}-{status.st_mtime_ns}"
        version = validator or length or ""
        return SourceFile(
            redact(url), int(length) if length else None, version.strip('"'), version_is_size=not validator
        )


def conditional_headers(validators: Mapping[str, str]) -> dict[str, str]:
    """The headers of a conditional GET for a copy downloaded with these ETag / Last-Modified."""
    names = {"ETag": "If-None-Match", "Last-Modified": "If-Modified-Since"}
    return {names[name]: value for name, value in validators.items() if name in names and value}


class TripSource(ConfigurableResource):
    """Finds a month (or the zone lookup) in the sources, in order, and downloads it, streaming to disk."""

    base_url: str = Field(
        default=DEFAULT_SOURCE_URL,
        description="The course's CSV release (`release`): http(s)://, file:// or gs://bucket/prefix base.",
    )
    tlc_url: str = Field(
        default=DEFAULT_TLC_URL,
        description="The TLC's parquet feed (`tlc`): base of `trip-data/` and `misc/`; http(s)://, file:// or gs://.",
    )
    sources: str = Field(
        default=DEFAULT_SOURCES,
        description="The sources to look in, in order: `release,tlc`, `tlc,release`, `tlc` or `release`.",
    )
    file_url: str | None = Field(
        default=None,
        description="One file to take instead of the sources (a landed file, set by landing_files_sensor).",
    )
    gcs_endpoint: str | None = Field(
        default=None,
        description="For a gs:// base: GCS API root of an emulator (anonymous); unset for Google Cloud (ADC).",
    )
    timeout_seconds: float = Field(default=60.0, description="Socket time-out per attempt.")
    attempts: int = Field(default=5, description="Tries for 5xx answers, time-outs and dropped connections.")
    backoff_seconds: float = Field(default=2.0, description="First wait between tries; doubles each time.")
    _transports: dict[str, Transport] = PrivateAttr(default_factory=dict)

    # An EnvVar's value is checked by the profile, naming the variable.
    @field_validator("base_url", "tlc_url", "file_url", mode="before")
    @classmethod
    def _known_scheme(cls, base_url: str | None) -> str | None:
        if base_url is not None and not isinstance(base_url, EnvVar):
            check_base_url(base_url)
        return base_url

    @field_validator("sources", mode="before")
    @classmethod
    def _known_sources(cls, sources: str) -> str:
        if not isinstance(sources, EnvVar):
            source_order(sources)
        return sources

    def _base(self, source: str) -> str:
        return {"release": self.base_url, "tlc": self.tlc_url}[source]

    def candidates(self, trip_month: TripMonth) -> list[Candidate]:
        """Where the month's file would be, in the order the sources are tried."""
        if self.file_url:
            name = urllib.parse.urlsplit(self.file_url).path.rsplit("/", 1)[-1]
            if TripMonth.from_remote_name(name) != trip_month:
                raise ValueError(f"{redact(self.file_url)}: the file given to take is not the {trip_month.label} file")
            return [Candidate("landing", self.file_url, file_format(name))]
        return [
            Candidate(name, join_url(self._base(name), LAYOUTS[name].trip_file(trip_month)), LAYOUTS[name].format)
            for name in source_order(self.sources)
        ]

    def zone_candidates(self) -> list[Candidate]:
        """Where the zone lookup would be, in the order the sources are tried."""
        return [Candidate(name, join_url(self._base(name), ZONES_FILE), "csv") for name in source_order(self.sources)]

    def url(self, trip_month: TripMonth) -> str:
        """The month's URL in the first source (where a download is looked for first)."""
        return self.candidates(trip_month)[0].url

    def shown_url(self, trip_month: TripMonth) -> str:
        """The month's URLs as logs, errors and metadata may show them (no credentials, no query)."""
        return " or ".join(redact(candidate.url) for candidate in self.candidates(trip_month))

    def transport(self, url: str) -> Transport:
        """The URL scheme's transport, chosen once; google-cloud-storage is imported for gs:// only."""
        scheme = "gs" if url.startswith("gs://") else "urllib"
        if scheme not in self._transports:
            if scheme == "gs":
                from taxi_platform.resources.gcp.source import GcsTransport

                self._transports[scheme] = GcsTransport(
                    timeout_seconds=self.timeout_seconds, endpoint=self.gcs_endpoint
                )
            else:
                self._transports[scheme] = UrllibTransport(timeout_seconds=self.timeout_seconds)
        return self._transports[scheme]

    def first_published(self, candidates: list[Candidate], what: str, attempts: int | None = None) -> SourceFile:
        """HEAD each candidate in order; the first that is there. None there: `MonthNotPublished` listing them.

        "Not there" moves on at once; a transient failure is tried again (`attempts`, default the resource's)
        and then stops the search, since a source that is down is not a month that is missing.
        """
        for candidate in candidates:
            head = partial(self.transport(candidate.url).probe, candidate.url)
            try:
                published, _ = self._retrying(candidate.url, head, attempts)
            except DownloadFailed as error:
                raise DownloadFailed(f"{what}: {error}") from None
            if published is not None:
                return replace(published, source=candidate.source, format=candidate.format)
        tried = ", ".join(redact(candidate.url) for candidate in candidates)
        raise MonthNotPublished(f"{what}: not published by any source (tried: {tried})")

    def locate(self, trip_month: TripMonth, attempts: int | None = None) -> SourceFile:
        """The month's file in the first source that has it, found with HEAD requests only."""
        return self.first_published(self.candidates(trip_month), trip_month.label, attempts)

    def probe(self, trip_month: TripMonth, attempts: int | None = None) -> SourceFile | None:
        """Like `locate`, but None when no source has the month; nothing is downloaded."""
        try:
            return self.locate(trip_month, attempts)
        except MonthNotPublished:
            return None

    def locate_zones(self) -> SourceFile:
        return self.first_published(self.zone_candidates(), "the zone lookup")

    def download(self, trip_month: TripMonth, destination: Path) -> Downloaded:
        """Write the month's file from the first source that has it to `destination`."""
        return self.fetch(self.locate(trip_month), destination)

    def fetch(
        self, published: SourceFile, destination: Path, since: Mapping[str, str] | None = None
    ) -> Downloaded | None:
        """Write a located file to `destination` (the caller moves it into place after checks), with retries.

        `since` is the ETag / Last-Modified of the copy held (a `Downloaded.validators`): the GET is
        conditional, and a 304 returns None with nothing left at `destination`.
        """
        url = published.url
        conditions = conditional_headers(since or {})
        log = get_dagster_logger()
        started = time.monotonic()

        def attempt() -> CheckedSink:
            sink = CheckedSink(destination, redact(url), log)
            try:
                if conditions:
                    self.transport(url).fetch(url, sink, conditions)
                else:
                    self.transport(url).fetch(url, sink)
            finally:
                sink.close()
            return sink

        try:
            sink, attempts = self._retrying(url, attempt)
        except NotModified:
            destination.unlink(missing_ok=True)
            log.info(f"{redact(url)}: not modified since the copy held (HTTP 304), nothing downloaded")
            return None
        return Downloaded(
            redact(url),
            sink.size,
            sink.digest.hexdigest(),
            attempts,
            time.monotonic() - started,
            published.source,
            published.format,
            sink.validators,
        )

    def _retrying(self, url: str, once: Callable[[], T], attempts: int | None = None) -> tuple[T, int]:
        """(`once()`, tries it took): a `Retryable` failure is tried again after a doubling wait, up to `attempts`."""
        tries = attempts or self.attempts
        for attempt in range(1, tries + 1):
            try:
                return once(), attempt
            except Retryable as error:
                if attempt == tries:
                    raise DownloadFailed(f"{redact(url)} failed {attempt} times, last: {error}") from None
                wait = self.backoff_seconds * 2 ** (attempt - 1)
                get_dagster_logger().warning(f"{redact(url)}: {error}; retry {attempt + 1}/{tries} in {wait:.1f}s")
                time.sleep(wait)
        raise AssertionError("unreachable")
