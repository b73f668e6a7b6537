"""Where monthly trip files come from: the course's release and the TLC's feed, in a configured order.

A month is looked for in each source in turn (`TAXI_SOURCES`, default `release,tlc`): a HEAD (or
the object's metadata) that says "not here" (404, 410, no such file) moves on to the next source at
once; a transient failure (5xx, 408/429, time-out, dropped connection) is retried like a download,
and if it lasts, or for any other failure, the search stops, since a source that is down is not a
month that is missing. The file is then downloaded from the first source that has it. A base may
be `http(s)://`, `file://` or `gs://`; redirects are followed (a HEAD stays a HEAD).

Each URL scheme has one transport (`http.py`, `file.py`, `gcs.py`, the last imported only when a
gs:// base is used), chosen once. Every transport streams into the same `CheckedSink`, which
hashes, counts, logs progress and checks the length; `TripSource` owns the retries.
"""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TypeVar

from dagster import ConfigurableResource, EnvVar, get_dagster_logger
from pydantic import Field, PrivateAttr, field_validator

from taxi_platform.resources.lake import LocalStagedFile, StagedFile
from taxi_platform.resources.sources.errors import DownloadFailed, MonthNotPublished, NotModified, Retryable, redact
from taxi_platform.resources.sources.file import FileTransport
from taxi_platform.resources.sources.http import HttpTransport
from taxi_platform.resources.sources.transport import CheckedSink, SourceFile, Transport
from taxi_platform.tlc.months import DEFAULT_SOURCE_URL, TripMonth, file_format
from taxi_platform.tlc.sources import DEFAULT_SOURCES, DEFAULT_TLC_URL, LAYOUTS, ZONES_FILE, join_url, source_order

_SCHEMES = ("http://", "https://", "file://", "gs://")
T = TypeVar("T")


def check_base_url(base_url: str) -> None:
    """Raise ValueError for a base this platform cannot download from."""
    if not base_url.startswith(_SCHEMES):
        raise ValueError(f"not a base this platform downloads from: use one of {', '.join(_SCHEMES)}")


@dataclass(frozen=True)
class Downloaded:
    url: str
    bytes: int
    sha256: str
    attempts: int
    seconds: float
    source: str = ""
    format: str = ""
    # The answer's ETag / Last-Modified: what a later conditional GET asks with (a HEAD may not give them).
    validators: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Candidate:
    """Where one source would publish a file: the source's name, the URL and the file's format."""

    source: str
    url: str
    format: str


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

    def shown_url(self, trip_month: TripMonth) -> str:
        """The month's URLs as logs, errors and metadata may show them (no credentials, no query)."""
        return " or ".join(redact(candidate.url) for candidate in self.candidates(trip_month))

    def transport(self, url: str) -> Transport:
        """The URL scheme's transport, made once; google-cloud-storage is imported for gs:// only."""
        scheme = url.split("://", 1)[0]
        if scheme not in self._transports:
            if scheme == "gs":
                from taxi_platform.resources.sources.gcs import GcsTransport

                self._transports[scheme] = GcsTransport(self.timeout_seconds, endpoint=self.gcs_endpoint)
            elif scheme == "file":
                self._transports[scheme] = FileTransport()
            else:
                self._transports[scheme] = HttpTransport(self.timeout_seconds)
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

    def fetch(
        self, published: SourceFile, destination: Path | StagedFile, since: Mapping[str, str] | None = None
    ) -> Downloaded | None:
        """Write a located file to `destination` (a lake's staged file, which the caller publishes after checks;
        or a local path), with retries.

        `since` is the ETag / Last-Modified of the copy held (a `Downloaded.validators`): the GET is
        conditional, and a 304 returns None with nothing left at `destination`.
        """
        url = published.url
        log = get_dagster_logger()
        started = time.monotonic()

        target = LocalStagedFile(destination) if isinstance(destination, Path) else destination

        def attempt() -> CheckedSink:
            sink = CheckedSink(target.open_write(), redact(url), log)
            try:
                self.transport(url).fetch(url, sink, since or {})
            finally:
                sink.close()
            return sink

        try:
            sink, attempts = self._retrying(url, attempt)
        except NotModified:
            target.discard()
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
