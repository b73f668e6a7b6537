"""The bucket: the published parquet the report reads, and the report itself.

A GCS bucket on the gcp profile, a local folder standing in for it otherwise. Both keep the
bucket's layout (`pq/{color}/{YYYY}/{MM}/`, `report/revenue/{color}/{YYYY}/{MM}/`), so the stages
use the same relative paths in every profile.
"""

from __future__ import annotations

import shutil
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

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
    def publish(self, source: Path, prefix: str) -> Published: ...

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
    def replace_prefix(self, prefix: str, audit: VersionAudit | None = None) -> AbstractContextManager[str]:
        """Yield a fresh location for Spark to write; on success it becomes the prefix's content.

        `audit` is called with a local folder of what was written, before it is published: if it
        raises, the prefix keeps its previous content (write, audit, publish).
        """

    @abstractmethod
    def local_copy(self, prefix: str) -> AbstractContextManager[Path]:
        """A local folder holding the prefix's files, for loaders that read files."""


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

    def publish(self, source: Path, prefix: str) -> Published:
        target = self._path(prefix)
        files = sorted(p for p in source.resolve().iterdir() if p.is_file() and not p.name.startswith("."))
        with self.lake.replace_directory(self._relative(prefix)) as staging:
            staging.mkdir(parents=True)
            # Data first, the `_SUCCESS` marker last, as a reader of the bucket expects.
            for path in sorted(files, key=lambda p: p.name == SUCCESS):
                shutil.copy2(path, staging / path.name)
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

    @contextmanager
    def replace_prefix(self, prefix: str, audit: VersionAudit | None = None) -> Iterator[str]:
        with self.lake.replace_directory(self._relative(prefix)) as staging:
            yield str(staging)
            if audit is not None:
                audit(staging)

    @contextmanager
    def local_copy(self, prefix: str) -> Iterator[Path]:
        yield self._path(prefix).resolve()
