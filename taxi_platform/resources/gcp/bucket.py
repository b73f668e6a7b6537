"""The bucket on Google Cloud Storage (imported by the gcp profile only: the client libraries are slow to import)."""

from __future__ import annotations

import json
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from dagster import get_dagster_logger
from google.api_core.exceptions import NotFound
from google.cloud import storage
from google.cloud.storage import transfer_manager
from pydantic import Field

from taxi_platform.resources.bucket import (
    Published,
    TripBucket,
    VersionAudit,
    file_md5,
    fingerprint,
    is_data_file,
)
from taxi_platform.resources.gcp.clients import GcsClient
from taxi_platform.resources.gcp.uri import GsUri, is_gs_uri
from taxi_platform.resources.lake import STALE_SECONDS, SUCCESS

# Where Spark writes before a replace: at the bucket's root, outside every zone (`pq/`, `report/`).
STAGING = "_staging"


class BucketMissing(FileNotFoundError):
    """The configured bucket is not there (a typo in TAXI_GCS_BUCKET, or never created)."""


class GCSBucket(TripBucket):
    """A GCS bucket (google-cloud-storage through dagster-gcp's resource).

    GCS cannot swap a prefix in one step, so a replace takes `_SUCCESS` down first, puts the new
    objects, removes the ones the new version lacks and puts `_SUCCESS` back last: readers that
    wait for the marker (the report stage) never read a half-replaced partition. A replace that
    fails removes what it added and puts the marker back. A process killed mid-replace leaves the
    prefix without its marker, possibly with parts of both versions, until the next replace of that
    prefix: there is no atomic rename on GCS, so only readers that check `_SUCCESS` are safe then.
    Spark's own output goes to `_staging/` at the bucket's root first, out of the zones' globs.
    """

    gcs: GcsClient
    bucket: str = Field(description="Bucket name, without gs://.")
    upload_workers: int = Field(default=8, ge=1, description="Parallel uploads per partition.")

    def _bucket(self) -> storage.Bucket:
        return self.gcs.get_client().bucket(self.bucket)

    def _uri(self, prefix: str) -> str:
        return str(GsUri(self.bucket, prefix))

    def _listing(self, prefix: str, max_results: int | None = None) -> list[storage.Blob]:
        """Objects under `prefix/`; a bucket that is not there is an error naming it, not a raw 404."""
        try:
            return list(self.gcs.get_client().list_blobs(self.bucket, prefix=f"{prefix}/", max_results=max_results))
        except NotFound:
            raise BucketMissing(
                f"{GsUri(self.bucket)}: the bucket does not exist; create it or set TAXI_GCS_BUCKET to one that does"
            ) from None

    def _objects(self, prefix: str, markers: bool = False) -> dict[str, storage.Blob]:
        """Objects under `prefix/`, by their name relative to it; without the connector's folder markers."""
        named = {blob.name[len(prefix) + 1 :]: blob for blob in self._listing(prefix)}
        return {name: blob for name, blob in named.items() if markers or (name and not name.endswith("/"))}

    def _files(self, prefix: str) -> dict[str, storage.Blob]:
        """Objects directly under `prefix/` (a partition's files), not in a folder below it."""
        return {name: blob for name, blob in self._objects(prefix).items() if "/" not in name}

    def publish(self, source: str, prefix: str, record: Mapping[str, Any] | None = None) -> Published:
        """From the lake on GCS by server-side copies; from a local folder by uploads. The record is the marker's
        content, written last (one object write)."""
        if is_gs_uri(source):
            published = self._publish_copies(GsUri.parse(source), prefix)
        else:
            published = self._publish_uploads(Path(source), prefix)
        if record is not None:
            self.keep_record(self._uri(prefix), record)
        return published

    def _publish_copies(self, source: GsUri, prefix: str) -> Published:
        """No byte passes through this machine; each copy's MD5 is checked against its source's."""
        client = self.gcs.get_client()
        listed = client.list_blobs(source.bucket, prefix=f"{source.path}/")
        files = {
            name: blob
            for blob in listed
            if (name := blob.name[len(source.path) + 1 :]) and "/" not in name and not name.startswith(".")
        }
        uri, size = self._uri(prefix), sum(blob.size or 0 for blob in files.values())
        existing = self._objects(prefix)
        if SUCCESS in existing and _data_md5s(existing) == _data_md5s(files):
            get_dagster_logger().info(f"{uri} already holds these {len(files)} files; nothing to copy")
            return Published(uri=uri, files=len(files), bytes=size, changed=False)
        new = [n for n, b in files.items() if n != SUCCESS and getattr(existing.get(n), "md5_hash", None) != b.md5_hash]
        self._replace(prefix, existing, new, self._copier(prefix, files), keep=set(files))
        get_dagster_logger().info(
            f"Published {len(new)} new of {len(files)} files ({size} bytes) to {uri}, copied in GCS"
        )
        return Published(uri=uri, files=len(files), bytes=size)

    def _copier(self, prefix: str, sources: Mapping[str, storage.Blob]) -> Callable[[list[str]], None]:
        """Puts named objects into the prefix by server-side copies, then checks their MD5s."""
        bucket = self._bucket()

        def put(names: list[str]) -> None:
            for name in names:
                sources[name].bucket.copy_blob(sources[name], bucket, f"{prefix}/{name}")
            self._verify(prefix, {name: sources[name].md5_hash for name in names})

        return put

    def _publish_uploads(self, source: Path, prefix: str) -> Published:
        files = {p.name: p for p in sorted(source.resolve().iterdir()) if p.is_file() and not p.name.startswith(".")}
        digests = {name: file_md5(path) for name, path in files.items()}
        size = sum(path.stat().st_size for path in files.values())
        existing = self._objects(prefix)
        uri = self._uri(prefix)
        log = get_dagster_logger()
        if SUCCESS in existing and _data_md5s(existing) == {n: d for n, d in digests.items() if is_data_file(n)}:
            log.info(f"{uri} already holds these {len(files)} files; nothing to upload")
            return Published(uri=uri, files=len(files), bytes=size, changed=False)
        bucket = self._bucket()
        new = [n for n in files if n != SUCCESS and (n not in existing or existing[n].md5_hash != digests[n])]

        def put(names: list[str]) -> None:
            pairs = [(str(files[name]), bucket.blob(f"{prefix}/{name}")) for name in names]
            errors = [r for r in transfer_manager.upload_many(
                pairs, max_workers=self.upload_workers, worker_type=transfer_manager.THREAD, raise_exception=False
            ) if isinstance(r, Exception)]  # fmt: skip
            if errors:
                raise RuntimeError(f"{len(errors)} uploads to {uri} failed; first: {errors[0]}")
            self._verify(prefix, {name: digests[name] for name in names})

        self._replace(prefix, existing, new, put, keep=set(files))
        log.info(f"Published {len(new)} new of {len(files)} files ({size} bytes) to {uri}")
        return Published(uri=uri, files=len(files), bytes=size)

    def _verify(self, prefix: str, digests: dict[str, str]) -> None:
        """The bucket's md5 of each object equals the local file's, or the publish fails."""
        stored = self._objects(prefix)
        wrong = [name for name, digest in digests.items() if getattr(stored.get(name), "md5_hash", None) != digest]
        if wrong:
            raise RuntimeError(f"{self._uri(prefix)}: checksum mismatch after upload for {', '.join(wrong)}")

    def _replace(
        self,
        prefix: str,
        existing: dict[str, storage.Blob],
        new: list[str],
        put: Callable[[list[str]], None],
        keep: set[str],
    ) -> None:
        """Swap a prefix's objects: marker down, new objects in, stale ones out, marker up.

        If putting the new objects fails, those added are removed again and the marker goes back up:
        the prefix holds the previous version, not the previous one plus part of the next (Spark's part
        names differ per write, so a glob over the prefix would read both).
        """
        marker = None
        if SUCCESS in existing:
            # Spark's marker is empty; keep what another writer's holds, to put it back on a failure.
            marker = existing[SUCCESS].download_as_bytes() if existing[SUCCESS].size else b""
            existing[SUCCESS].delete()
        try:
            put(new)
        except BaseException:
            self._roll_back(prefix, existing, marker, overwritten=[n for n in new if n in existing])
            raise
        for name, blob in existing.items():
            if name not in keep:
                blob.delete()
        if SUCCESS in keep:
            put([SUCCESS])

    def _roll_back(
        self, prefix: str, existing: dict[str, storage.Blob], marker: bytes | None, overwritten: list[str]
    ) -> None:
        """Remove what a failed replace added; the marker returns only if no previous object was overwritten."""
        for name, blob in self._objects(prefix).items():
            if name not in existing:
                blob.delete()
        if marker is not None and not overwritten:
            self._bucket().blob(f"{prefix}/{SUCCESS}").upload_from_string(marker)
        get_dagster_logger().warning(
            f"{self._uri(prefix)}: the replace failed; "
            + ("the previous version is back" if marker is not None and not overwritten else "left without _SUCCESS")
        )

    def describe(self, prefix: str) -> Published:
        objects = self._objects(prefix)
        return Published(uri=self._uri(prefix), files=len(objects), bytes=sum(b.size or 0 for b in objects.values()))

    def is_published(self, prefix: str) -> bool:
        if self._bucket().blob(f"{prefix}/{SUCCESS}").exists():
            return True
        # No marker: if the bucket itself is missing, say so rather than "materialize gcs_trips first".
        self._listing(prefix, max_results=1)
        return False

    def spark_path(self, prefix: str) -> str:
        return self._uri(prefix)

    def data_files(self, prefix: str) -> list[str]:
        """From the listing: a BigQuery load job reads them where they are."""
        return [self._uri(f"{prefix}/{name}") for name in sorted(self._files(prefix)) if is_data_file(name)]

    @contextmanager
    def replace_prefix(self, prefix: str, audit: VersionAudit | None = None) -> Iterator[str]:
        """Spark writes to `_staging/<prefix>/<id>/` at the bucket's root, out of reach of the zones' globs."""
        self._remove_stale_staging(prefix)
        staging = f"{STAGING}/{prefix}/{uuid.uuid4().hex}"
        try:
            yield self._uri(staging)
            self._publish_staged(prefix, staging, audit)
        finally:
            for blob in self._objects(staging, markers=True).values():
                blob.delete()

    def _publish_staged(self, prefix: str, staging: str, audit: VersionAudit | None) -> None:
        """Audit what Spark wrote at `staging` (with its `_SUCCESS`), then copy it over the prefix, in the bucket."""
        written = self._objects(staging)
        if SUCCESS not in written:
            raise RuntimeError(f"nothing complete was written to {self._uri(staging)}")
        if audit is not None:
            with self.local_copy(staging) as folder:
                audit(folder)
        existing = self._objects(prefix)
        self._replace(
            prefix, existing, [n for n in written if n != SUCCESS], self._copier(prefix, written), keep=set(written)
        )
        get_dagster_logger().info(f"Replaced {self._uri(prefix)} with {len(written)} objects")

    @contextmanager
    def staging_area(self, name: str) -> Iterator[str]:
        self._remove_stale_staging(name)
        root = f"{STAGING}/{name}/{uuid.uuid4().hex}"
        try:
            yield self._uri(f"{root}/output")
        finally:
            for blob in self._objects(root, markers=True).values():
                blob.delete()

    def publish_written(
        self, prefix: str, written: str, record: Mapping[str, Any], audit: VersionAudit | None = None
    ) -> None:
        """Server-side copies from the staging area: no byte passes through this machine but the audit's."""
        staging = GsUri.parse(written).path
        if not any(name.endswith(".parquet") for name in self._objects(staging)):
            raise FileNotFoundError(f"{written}: the job wrote no parquet for {prefix}")
        self.keep_record(written, record)  # the marker a partition folder of a `partitionBy` write lacks
        self._publish_staged(prefix, staging, audit)

    def _remove_stale_staging(self, prefix: str) -> None:
        """Staged output a killed run left behind, old enough that no writer is still filling it."""
        cutoff = datetime.now(UTC) - timedelta(seconds=STALE_SECONDS)
        for blob in self._listing(f"{STAGING}/{prefix}"):
            if blob.time_created is not None and blob.time_created < cutoff:
                blob.delete()

    @contextmanager
    def local_copy(self, prefix: str) -> Iterator[Path]:
        with tempfile.TemporaryDirectory(prefix="taxi_platform-") as folder:
            for name, blob in self._files(prefix).items():
                blob.download_to_filename(str(Path(folder) / name))
            yield Path(folder)

    def fingerprint(self, prefix: str) -> str | None:
        """From the listing's MD5s: nothing is downloaded."""
        files = self._files(prefix)
        if SUCCESS not in files:
            return None
        return fingerprint({name: blob.md5_hash for name, blob in files.items()})

    def keep_record(self, staging: str, record: Mapping[str, Any]) -> None:
        """The record is the content of the write's `_SUCCESS` marker, which a replace puts up last."""
        marker = GsUri.parse(staging).join(SUCCESS)
        self._bucket().blob(marker.path).upload_from_string(json.dumps(record, sort_keys=True, default=str))

    def record(self, prefix: str) -> dict[str, Any] | None:
        try:
            content = self._bucket().blob(f"{prefix}/{SUCCESS}").download_as_bytes()
        except NotFound:
            return None
        try:
            record = json.loads(content) if content else None
        except ValueError:
            return None  # a marker another writer filled
        return record if isinstance(record, dict) else None


def _data_md5s(blobs: Mapping[str, storage.Blob]) -> dict[str, str | None]:
    """The MD5s of a prefix's data files (not its `_SUCCESS` marker, which may hold a record)."""
    return {name: blob.md5_hash for name, blob in blobs.items() if is_data_file(name)}
