"""The bucket: the published parquet the report reads, and the report itself.

A GCS bucket on the gcp profile, a local folder standing in for it otherwise. Both keep the
bucket's layout (`pq/{color}/{YYYY}/{MM}/`, `report/revenue/{color}/{YYYY}/{MM}/`), so the stages
use the same relative paths in every profile.
"""

from __future__ import annotations

import base64
import hashlib
import shutil
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from dagster import ConfigurableResource, get_dagster_logger
from pydantic import Field

from taxi_platform.resources.lake import SUCCESS, LocalLake, tree_size

# Called with a local folder of a written version before it is published; raising keeps the old one.
VersionAudit = Callable[[Path], None]


@dataclass(frozen=True)
class Published:
    uri: str
    files: int
    bytes: int
    changed: bool = True  # False when the prefix already held exactly these files


class TripBucket(ConfigurableResource, ABC):
    """Publishes a finished partition directory, replacing whatever that prefix held."""

    @abstractmethod
    def publish(self, source: str, prefix: str, record: Mapping[str, Any] | None = None) -> Published:
        """Make a lake partition's files (its location: a local folder, or a `gs://` version) the prefix's content,
        with `record` kept (`record(prefix)`); a prefix already holding the same data files is left, its record
        replaced."""

    @abstractmethod
    def describe(self, prefix: str) -> Published:
        """URI, object count and bytes of what a prefix holds now."""

    @abstractmethod
    def is_published(self, prefix: str) -> bool:
        """True when the prefix holds a complete partition (its `_SUCCESS` marker)."""

    @abstractmethod
    def spark_path(self, prefix: str) -> str:
        """Where Spark reads a published prefix (`/local/path` or `gs://bucket/prefix`)."""

    @abstractmethod
    def data_files(self, prefix: str) -> list[str]:
        """Where a loader reads each data file of a published prefix (`/local/path` or `gs://…`), by name."""

    @abstractmethod
    def replace_prefix(self, prefix: str, audit: VersionAudit | None = None) -> AbstractContextManager[str]:
        """Yield a fresh location for Spark to write; on success it becomes the prefix's content.

        `audit` is called with a local folder of what was written, before it is published: if it
        raises, the prefix keeps its previous content (write, audit, publish).
        """

    @abstractmethod
    def staging_area(self, name: str) -> AbstractContextManager[str]:
        """A location, outside every zone, for one job to write many partitions' outputs; removed afterwards."""

    @abstractmethod
    def publish_written(
        self, prefix: str, written: str, record: Mapping[str, Any], audit: VersionAudit | None = None
    ) -> None:
        """Make a folder a job wrote in a `staging_area` the prefix's content, with `record`, as `replace_prefix` does.

        `audit` is called with a local folder of it first: if it raises, the prefix keeps its previous content.
        """

    @abstractmethod
    def local_copy(self, prefix: str) -> AbstractContextManager[Path]:
        """A local folder holding the prefix's files, for loaders that read files."""

    @abstractmethod
    def fingerprint(self, prefix: str) -> str | None:
        """What a published prefix holds, as one digest of its data files' names and MD5s; None when unpublished.

        Equal digests mean equal data, whoever wrote it: what a stage reading the prefix compares
        with the record of its last inputs to tell whether it has anything to do.
        """

    @abstractmethod
    def keep_record(self, staging: str, record: Mapping[str, Any]) -> None:
        """Keep `record` (plain JSON) with the write a `replace_prefix` block yielded, published with it."""

    @abstractmethod
    def record(self, prefix: str) -> dict[str, Any] | None:
        """The record kept with what the prefix holds now; None when it has none."""


class LocalBucket(TripBucket):
    """The local profile's bucket: the lake's publish zone, with the bucket's layout and atomic swaps.

    Its partitions are the lake's (`LocalLake.replace_directory`): versions in the lake's store, links here.
    """

    lake: LocalLake
    zone: str = Field(default="bucket", description="Folder of the lake standing in for gs://bucket/.")

    def _relative(self, prefix: str) -> str:
        return f"{self.zone}/{prefix}"

    def _path(self, prefix: str) -> Path:
        return self.lake.path(self._relative(prefix))

    def publish(self, source: str, prefix: str, record: Mapping[str, Any] | None = None) -> Published:
        target = self._path(prefix)
        files = sorted(p for p in Path(source).resolve().iterdir() if p.is_file() and not p.name.startswith("."))
        if self.is_published(prefix) and fingerprint_files(files) == self.fingerprint(prefix):
            get_dagster_logger().info(f"{target} already holds these {len(files)} files; nothing to copy")
            if record is not None:
                self.lake.keep_record(target.resolve(), record)
            return replace(self.describe(prefix), changed=False)
        with self.lake.replace_directory(self._relative(prefix)) as staging:
            staging.mkdir(parents=True)
            # Data first, the `_SUCCESS` marker last, as a reader of the bucket expects.
            for path in sorted(files, key=lambda p: p.name == SUCCESS):
                shutil.copy2(path, staging / path.name)
            if record is not None:
                self.lake.keep_record(staging, record)
        published = self.describe(prefix)
        get_dagster_logger().info(f"Published {published.files} files ({published.bytes} bytes) to {target}")
        return published

    def describe(self, prefix: str) -> Published:
        count, size = tree_size(self._path(prefix))
        return Published(uri=self._path(prefix).as_uri(), files=count, bytes=size)

    def is_published(self, prefix: str) -> bool:
        return (self._path(prefix) / SUCCESS).is_file()

    def spark_path(self, prefix: str) -> str:
        return str(self._path(prefix))

    def data_files(self, prefix: str) -> list[str]:
        folder = self._path(prefix)
        return [
            str(folder / p.name) for p in sorted(folder.resolve().iterdir()) if p.is_file() and is_data_file(p.name)
        ]

    @contextmanager
    def replace_prefix(self, prefix: str, audit: VersionAudit | None = None) -> Iterator[str]:
        with self.lake.replace_directory(self._relative(prefix)) as staging:
            yield str(staging)
            if audit is not None:
                audit(staging)

    @contextmanager
    def staging_area(self, name: str) -> Iterator[str]:
        """In the lake's store, on the lake's disk: publishing a partition from it is a rename per file."""
        with self.lake.staging_area(name) as folder:
            yield str(Path(folder) / "output")

    def publish_written(
        self, prefix: str, written: str, record: Mapping[str, Any], audit: VersionAudit | None = None
    ) -> None:
        source = Path(written)
        if not any(source.glob("*.parquet")):
            raise FileNotFoundError(f"{source}: the job wrote no parquet for {prefix}")
        with self.lake.replace_directory(self._relative(prefix)) as version:
            self.lake.move_into(str(source), version)
            self.lake.keep_record(version, record)
            if audit is not None:
                audit(version)

    @contextmanager
    def local_copy(self, prefix: str) -> Iterator[Path]:
        yield self._path(prefix).resolve()

    def fingerprint(self, prefix: str) -> str | None:
        if not self.is_published(prefix):
            return None
        return fingerprint_files(p for p in self._path(prefix).resolve().iterdir() if p.is_file())

    def keep_record(self, staging: str, record: Mapping[str, Any]) -> None:
        self.lake.keep_record(Path(staging), record)

    def record(self, prefix: str) -> dict[str, Any] | None:
        return self.lake.record(self._relative(prefix))


def is_data_file(name: str) -> bool:
    """A file a reader of the zone reads: not a marker or a record (`_x`), not a hidden file (`.x`)."""
    return not name.startswith(("_", "."))


def fingerprint(digests: Mapping[str, str]) -> str:
    """One digest of a prefix's data files from their names and base64 MD5s (see `TripBucket.fingerprint`)."""
    lines = sorted(f"{name} {digest}" for name, digest in digests.items() if is_data_file(name))
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def fingerprint_files(paths: Iterable[Path]) -> str:
    """`fingerprint` of local files."""
    return fingerprint({path.name: file_md5(path) for path in paths if is_data_file(path.name)})


def file_md5(path: Path) -> str:
    """Base64 MD5, the form GCS reports as an object's `md5Hash`."""
    digest = hashlib.md5()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return base64.b64encode(digest.digest()).decode()
