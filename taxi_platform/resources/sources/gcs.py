"""`gs://`: a landing prefix, or a copy of the release or the TLC feed in a bucket (imported for gs:// only)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import requests
from google.api_core import exceptions
from google.auth import exceptions as auth_exceptions
from google.cloud import storage
from google.cloud.storage.exceptions import DataCorruption

from taxi_platform.resources.gcp.clients import storage_client
from taxi_platform.resources.gcp.uri import GsUri
from taxi_platform.resources.sources.errors import DownloadFailed, NotModified, Retryable, not_published
from taxi_platform.resources.sources.transport import CheckedSink, SourceFile

# Failures of one attempt that the next may not have.
_TRANSIENT = (
    DataCorruption,  # the object's md5 did not match what arrived
    exceptions.TooManyRequests,
    exceptions.InternalServerError,
    exceptions.BadGateway,
    exceptions.ServiceUnavailable,
    exceptions.GatewayTimeout,
    exceptions.RetryError,
    auth_exceptions.TransportError,
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    TimeoutError,
    ConnectionError,
)


@dataclass(frozen=True)
class GcsTransport:
    """Reads objects with google-cloud-storage: ADC on Google Cloud, anonymous on an emulator `endpoint`."""

    timeout_seconds: float
    endpoint: str | None = None

    def _blob(self, url: str) -> storage.Blob | None:
        """The object's metadata (generation, size), or None when there is no such object or bucket."""
        uri = GsUri.parse(url)
        try:  # no project needed to read
            return (
                storage_client(None, self.endpoint).bucket(uri.bucket).get_blob(uri.path, timeout=self.timeout_seconds)
            )
        except exceptions.NotFound:
            return None

    def probe(self, url: str) -> SourceFile | None:
        try:
            blob = self._blob(url)
        except _TRANSIENT as error:
            raise Retryable(f"metadata request: {error!r}") from None
        except (exceptions.GoogleAPICallError, auth_exceptions.GoogleAuthError, OSError) as error:
            raise DownloadFailed(f"{url}: metadata request failed ({error})") from None
        return None if blob is None else SourceFile(url, blob.size, str(blob.generation))

    def fetch(self, url: str, sink: CheckedSink, conditions: Mapping[str, str]) -> None:
        """Download the object's current generation; the copy held is `NotModified` when its ETag is that one's."""
        try:
            blob = self._blob(url)  # pins the generation: a re-upload mid-download is not mixed in
            if blob is None:
                raise not_published(url, "no such object")
            if blob.etag and conditions.get("ETag") == blob.etag:
                raise NotModified(url)
            sink.validators = {"ETag": blob.etag} if blob.etag else {}
            blob.download_to_file(sink, timeout=self.timeout_seconds)
        except exceptions.NotFound:
            raise not_published(url, "no such object") from None  # removed between the metadata and the download
        except _TRANSIENT as error:
            raise Retryable(f"{error!r}") from None
        except (exceptions.GoogleAPICallError, auth_exceptions.GoogleAuthError) as error:
            raise DownloadFailed(f"{url}: {error}") from None
        sink.check(blob.size)
