"""`http://` and `https://` through urllib: redirects followed, a HEAD stays a HEAD."""

from __future__ import annotations

import urllib.error
import urllib.request
import urllib.response
from collections.abc import Mapping
from dataclasses import dataclass
from http.client import HTTPException, HTTPMessage, HTTPResponse
from typing import IO

from taxi_platform.resources.sources.errors import (
    DownloadFailed,
    MonthNotPublished,
    NotModified,
    Retryable,
    not_published,
    redact,
)
from taxi_platform.resources.sources.transport import CHUNK, CONDITIONS, CheckedSink, SourceFile

# Answers that mean "no such file". S3 behind CloudFront (the TLC's feed) answers 403, not 404, for a key that
# does not exist (a month not published yet), since listing its bucket is not public.
_ABSENT = (403, 404, 410)


class _HeadStaysHead(urllib.request.HTTPRedirectHandler):
    """Follow a redirect of a HEAD with a HEAD: urllib (3.11) follows it with a GET, which starts a download."""

    def redirect_request(
        self, req: urllib.request.Request, fp: IO[bytes], code: int, msg: str, headers: HTTPMessage, newurl: str
    ) -> urllib.request.Request | None:
        redirected = super().redirect_request(req, fp, code, msg, headers, newurl)
        if redirected is not None and req.get_method() == "HEAD":
            redirected.method = "HEAD"
        return redirected


_OPENER = urllib.request.build_opener(_HeadStaysHead())


@dataclass(frozen=True)
class HttpTransport:
    """A 403/404/410 is "not there"; 5xx, 408, 429, time-outs and dropped connections are worth another try."""

    timeout_seconds: float

    def _open(self, request: urllib.request.Request) -> HTTPResponse | urllib.response.addinfourl:
        url = request.full_url
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
            raise Retryable(str(error.reason)) from None
        except (TimeoutError, ConnectionError, HTTPException) as error:
            raise Retryable(repr(error)) from None

    def fetch(self, url: str, sink: CheckedSink, conditions: Mapping[str, str]) -> None:
        """GET into `sink`, conditional on the copy held (If-None-Match, If-Modified-Since): a 304 is `NotModified`."""
        headers = {CONDITIONS[name]: value for name, value in conditions.items() if name in CONDITIONS and value}
        response = self._open(urllib.request.Request(url, headers=headers))
        sink.validators = {name: response.headers[name] for name in CONDITIONS if response.headers.get(name)}
        try:
            with response:
                while chunk := response.read(CHUNK):
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
        version = validator or length or ""
        return SourceFile(
            redact(url), int(length) if length else None, version.strip('"'), version_is_size=not validator
        )
