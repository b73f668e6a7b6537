"""The lake on GCS, for the gcp profile: every Dataproc worker and every short-lived Dagster worker sees it.

Under the lake's root (`gs://$TAXI_GCS_BUCKET/lake` by default, `TAXI_LAKE_URI` to put it elsewhere):

    raw/{color}/{YYYY}/{MM}/{file}           a raw file, its record in the object's own metadata
    _versions/<zone path>/v-<stamp>-<id>/    a partition's versions (`_versions/pq/green/2021/01/`)
    _versions/<zone path>/v-<stamp>-<id>.json    the record of what that version holds
    _current/<zone path>.json                names the partition's current version
    _staging/                                downloads being uploaded, one job's many outputs

An object write is atomic on GCS, so a file (a download, checked, then copied into place with its
record as metadata) and a partition (its version written whole, then the one small `_current`
object rewritten) are each published in one step: a reader sees the old one or the new one. A
version that stops being current is marked superseded and removed after `grace_seconds`, so a job
still reading it finishes; a crashed writer's version and staging are removed once stale. Outside
readers read the bucket's published zones (`pq/`, `report/`, `zones/`), which gcs_trips fills
from here by server-side copies.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, suppress
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, BinaryIO

from google.api_core.exceptions import Forbidden, NotFound
from google.cloud import storage
from pydantic import Field, PrivateAttr

from taxi_platform.audits import ParquetFiles
from taxi_platform.resources.gcp.clients import GcsClient
from taxi_platform.resources.gcp.uri import GsUri
from taxi_platform.resources.lake import RECORD, STALE_SECONDS, SUCCESS, Lake, StagedFile, Stored

if TYPE_CHECKING:
    import pyarrow.fs as pafs

RECORD_KEY = "taxi-platform-record"  # a raw file's record, in the object's custom metadata
VERSIONS, CURRENT, STAGING = "_versions", "_current", "_staging"
SUPERSEDED = ".superseded"  # beside a version that is no longer current: its age is the grace period's
UPLOAD_CHUNK = 8 << 20  # a resumable upload's chunk, held in memory (a multiple of 256 KiB)


class LakeNotWritable(PermissionError):
    """The lake's bucket or prefix cannot be written with these credentials (or the bucket does not exist)."""


def _new_id() -> str:
    return f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"


class _HashingWriter:
    """A resumable upload's stream that keeps the MD5 of what was written, to verify the object against."""

    def __init__(
        self, open_stream: Callable[[], BinaryIO], writing: Callable[[], AbstractContextManager[None]]
    ) -> None:
        self._writing = writing
        with writing():
            self._stream = open_stream()
        self.md5 = hashlib.md5()

    def write(self, data: bytes) -> int:
        self.md5.update(data)
        with self._writing():
            return self._stream.write(data)

    def close(self) -> None:
        with self._writing():
            self._stream.close()

    def __enter__(self) -> _HashingWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class GcsStagedFile(StagedFile):
    """A download streamed into `_staging/` as a resumable upload: nothing is kept on the local disk."""

    def __init__(self, blob: storage.Blob, name: str, writing: Callable[[], AbstractContextManager[None]]) -> None:
        self.blob = blob
        self.name = name
        self.record: Mapping[str, Any] | None = None
        self._writing = writing
        self._writer: _HashingWriter | None = None

    def open_write(self) -> BinaryIO:
        def upload() -> BinaryIO:
            return self.blob.open("wb", chunk_size=UPLOAD_CHUNK, ignore_flush=True)  # type: ignore[return-value]

        self._writer = _HashingWriter(upload, self._writing)
        return self._writer  # type: ignore[return-value]

    def open_read(self) -> BinaryIO:
        return self.blob.open("rb")  # type: ignore[return-value]

    def exists(self) -> bool:
        return self.blob.exists()

    def discard(self) -> None:
        with suppress(NotFound, Forbidden):
            self.blob.delete()

    def verify(self) -> None:
        """The stored object's MD5 is that of the bytes written, or the upload is refused."""
        self.blob.reload()
        written = None if self._writer is None else base64.b64encode(self._writer.md5.digest()).decode()
        if written is not None and self.blob.md5_hash != written:
            raise RuntimeError(f"{self.name}: the upload's MD5 {self.blob.md5_hash} is not that of the bytes read")


class GcsLake(Lake):
    """The lake under a `gs://bucket/prefix` (see the module)."""

    gcs: GcsClient
    bucket: str = Field(description="The bucket (without gs://) whose `lake/` prefix holds the lake by default.")
    lake_uri: str | None = Field(default=None, description="`gs://bucket/prefix` of the lake instead (TAXI_LAKE_URI).")
    grace_seconds: float = Field(
        default=STALE_SECONDS,
        description="How long a version that is no longer current is kept for jobs still reading it.",
    )
    # `_staging/` swept of a killed run's uploads: once per resource, not on every download of a range.
    _staging_swept: bool = PrivateAttr(default=False)

    @property
    def _root(self) -> GsUri:
        return GsUri.parse(self.lake_uri) if self.lake_uri else GsUri(self.bucket, "lake")

    def _bucket(self) -> storage.Bucket:
        return self.gcs.get_client().bucket(self._root.bucket)

    def _path(self, *parts: str) -> str:
        return self._root.join(*parts).path

    def _uri(self, path: str) -> str:
        return str(GsUri(self._root.bucket, path))

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """A write the credentials may not make: the error names the lake's bucket and prefix."""
        root = self._root
        try:
            yield
        except (Forbidden, NotFound) as error:
            if isinstance(error, NotFound) and self._bucket().exists():
                raise
            raise LakeNotWritable(
                f"the lake {root} cannot be written (bucket {root.bucket}, prefix {root.path or '/'}): "
                f"{str(error).splitlines()[0]}; check TAXI_LAKE_URI / TAXI_GCS_BUCKET and the credentials' roles"
            ) from None

    def _listing(self, path: str, markers: bool = False) -> list[storage.Blob]:
        """Objects under `path/`, without the GCS connector's folder markers unless `markers` (to remove them too)."""
        blobs = self.gcs.get_client().list_blobs(self._root.bucket, prefix=f"{path}/")
        return [blob for blob in blobs if markers or not blob.name.endswith("/")]

    def _read_json(self, path: str) -> dict[str, Any] | None:
        try:
            return json.loads(self._bucket().blob(path).download_as_bytes())
        except (NotFound, ValueError):
            return None

    def _current(self, relative: str) -> str | None:
        """The path of the partition's current version, from its `_current` record."""
        pointer = self._read_json(self._path(CURRENT, f"{relative}{RECORD}"))
        return None if pointer is None else self._path(VERSIONS, relative, pointer["version"])

    def uri(self, relative: str) -> str:
        current = self._current(relative)
        return self._uri(current if current is not None else self._path(relative))

    def describe(self, relative: str) -> Stored:
        current = self._current(relative)
        if current is None:
            blob = self._bucket().get_blob(self._path(relative))
            return Stored(self._uri(self._path(relative)), int(blob is not None), (blob.size or 0) if blob else 0)
        files = [b for b in self._listing(current) if not b.name.rsplit("/", 1)[-1].startswith(("_", "."))]
        return Stored(self._uri(current), len(files), sum(b.size or 0 for b in files))

    @contextmanager
    def replace_file(self, relative: str) -> Iterator[GcsStagedFile]:
        name = relative.rsplit("/", 1)[-1]
        if not self._staging_swept:
            with self._writing():
                self._remove_stale(self._path(STAGING))
            self._staging_swept = True
        bucket = self._bucket()
        staged_path = self._path(STAGING, f"{_new_id()}.{name}.part")
        staged = GcsStagedFile(bucket.blob(staged_path), self._uri(self._path(relative)), self._writing)
        try:
            yield staged
            if not staged.exists():
                return  # nothing written (a 304: the file held is current)
            with self._writing():
                staged.verify()
                # The record travels as the object's metadata: one copy publishes the file and its record together.
                record = json.dumps(staged.record, sort_keys=True, default=str) if staged.record else None
                staged.blob.metadata = {RECORD_KEY: record} if record else {}
                staged.blob.patch()
                published = bucket.copy_blob(staged.blob, bucket, self._path(relative))
            if published.md5_hash != staged.blob.md5_hash:
                raise RuntimeError(f"{staged.name}: the copy's MD5 is not the upload's")
        finally:
            staged.discard()

    @contextmanager
    def replace_directory(self, relative: str) -> Iterator[str]:
        version = self._path(VERSIONS, relative, f"v-{_new_id()}")
        try:
            yield self._uri(version)
            if not self._bucket().blob(f"{version}/{SUCCESS}").exists():
                raise RuntimeError(f"nothing complete was written to {self._uri(version)}")
            with self._writing():
                self._publish(relative, version)
        except BaseException:
            with suppress(Exception):
                self._remove_version(version)
            raise
        self._remove_old_versions(relative)

    def _publish(self, relative: str, version: str) -> None:
        """Point the partition at `version` (one object write); mark the version it pointed at superseded."""
        previous = self._current(relative)
        pointer = {"version": version.rsplit("/", 1)[-1], "published": datetime.now(UTC).isoformat()}
        self._bucket().blob(self._path(CURRENT, f"{relative}{RECORD}")).upload_from_string(
            json.dumps(pointer), content_type="application/json"
        )
        if previous is not None and previous != version:
            self._bucket().blob(f"{previous}{SUPERSEDED}").upload_from_string(b"")

    def _remove_version(self, version: str) -> None:
        for blob in self._listing(version, markers=True):
            blob.delete()
        for suffix in (RECORD, SUPERSEDED):
            with suppress(NotFound):
                self._bucket().blob(f"{version}{suffix}").delete()

    def _remove_old_versions(self, relative: str) -> None:
        """Versions superseded longer than the grace period ago, and versions a crashed writer left (stale)."""
        current = self._current(relative)
        now = datetime.now(UTC)
        versions: dict[str, dict[str, datetime]] = {}
        for blob in self._listing(self._path(VERSIONS, relative), markers=True):
            rest = blob.name[len(self._path(VERSIONS, relative)) + 1 :]
            name = rest.split("/", 1)[0]
            for suffix in (RECORD, SUPERSEDED):
                name = name.removesuffix(suffix)
            kind = "superseded" if rest.endswith(SUPERSEDED) else "written"
            created = blob.time_created or now
            seen = versions.setdefault(name, {})
            seen[kind] = max(seen.get(kind, created), created)
        for name, times in versions.items():
            path = self._path(VERSIONS, relative, name)
            if path == current:
                continue
            if "superseded" in times:
                expired = now - times["superseded"] > timedelta(seconds=self.grace_seconds)
            else:
                expired = now - times["written"] > timedelta(seconds=STALE_SECONDS)
            if expired:
                self._remove_version(path)

    def _remove_stale(self, path: str) -> None:
        """Staged uploads and outputs a killed run left behind, old enough that no writer is still at work."""
        cutoff = datetime.now(UTC) - timedelta(seconds=STALE_SECONDS)
        for blob in self._listing(path, markers=True):
            if blob.time_created is not None and blob.time_created < cutoff:
                with suppress(NotFound):  # another month's download, swept at the same time
                    blob.delete()

    def keep_record(self, written: Any, record: Mapping[str, Any]) -> None:
        if isinstance(written, GcsStagedFile):
            written.record = record  # published with the file, as its metadata
            return
        path = GsUri.parse(str(written)).path
        self._bucket().blob(f"{path}{RECORD}").upload_from_string(
            json.dumps(record, indent=1, sort_keys=True, default=str), content_type="application/json"
        )

    def record(self, relative: str) -> dict[str, Any] | None:
        current = self._current(relative)
        if current is not None:
            return self._read_json(f"{current}{RECORD}")
        blob = self._bucket().get_blob(self._path(relative))
        if blob is None or not blob.metadata or RECORD_KEY not in blob.metadata:
            return None
        return json.loads(blob.metadata[RECORD_KEY])

    def first_file(self, relatives: tuple[str, ...] | list[str]) -> str | None:
        bucket = self._bucket()
        return next((relative for relative in relatives if bucket.blob(self._path(relative)).exists()), None)

    def opener(self, relative: str) -> Callable[[], BinaryIO]:
        blob = self._bucket().blob(self._path(relative))
        return lambda: blob.open("rb")  # type: ignore[return-value]

    def remove_file(self, relative: str) -> None:
        with suppress(NotFound):
            self._bucket().blob(self._path(relative)).delete()

    @contextmanager
    def staging_area(self, name: str) -> Iterator[str]:
        self._remove_stale(self._path(STAGING, name))
        area = self._path(STAGING, name, uuid.uuid4().hex)
        try:
            yield self._uri(area)
        finally:
            for blob in self._listing(area, markers=True):
                blob.delete()

    def move_into(self, written: str, version: Any, copy: bool = False) -> None:
        """Server-side copies, no byte through this machine; each copy's MD5 checked against its source."""
        source, target = GsUri.parse(written).path, GsUri.parse(str(version)).path
        bucket = self._bucket()
        files = [b for b in self._listing(source) if "/" not in b.name[len(source) + 1 :]]
        for blob in files:
            name = blob.name.rsplit("/", 1)[-1]
            if name.startswith(("_", ".")):
                continue
            copied = bucket.copy_blob(blob, bucket, f"{target}/{name}")
            if copied.md5_hash != blob.md5_hash:
                raise RuntimeError(f"{self._uri(f'{target}/{name}')}: the copy's MD5 is not its source's")
        bucket.blob(f"{target}/{SUCCESS}").upload_from_string(b"")

    def is_finished(self, relative: str) -> bool:
        return self._current(relative) is not None

    def parquet_files(self, location: Any) -> ParquetFiles:
        path = GsUri.parse(str(location)).path
        names = sorted(
            b.name for b in self._listing(path) if b.name.endswith(".parquet") and "/" not in b.name[len(path) + 1 :]
        )
        return ParquetFiles(tuple(f"{self._root.bucket}/{name}" for name in names), self.arrow_filesystem())

    def arrow_filesystem(self) -> pafs.GcsFileSystem:
        """pyarrow's GCS filesystem on the same endpoint: Application Default Credentials, or an emulator's."""
        import pyarrow.fs as pafs

        endpoint = self.gcs.endpoint
        if endpoint is None:
            return pafs.GcsFileSystem(project_id=self.gcs.project)
        scheme, _, host = endpoint.rstrip("/").partition("://")
        return pafs.GcsFileSystem(
            anonymous=True, scheme=scheme, endpoint_override=host, retry_time_limit=timedelta(seconds=30)
        )
