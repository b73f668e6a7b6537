"""The publish zone that the revenue report reads from: a GCS bucket, or a local stand-in for it.

Both keep the bucket's layout (`pq/{color}/{YYYY}/{MM}/`), so the report stage reads the same
relative paths in every profile.
"""

from __future__ import annotations

import shutil
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from dagster import ConfigurableResource, get_dagster_logger
from pydantic import Field

from taxi_platform.resources.lake import LocalLake, replace_directory, tree_size


@dataclass(frozen=True)
class Published:
    uri: str
    files: int
    bytes: int


class TripBucket(ConfigurableResource, ABC):
    """Publishes a finished partition directory, replacing whatever that prefix held."""

    @abstractmethod
    def publish(self, source: Path, prefix: str) -> Published: ...

    @abstractmethod
    def is_published(self, prefix: str) -> bool:
        """True when the prefix holds a complete partition (its `_SUCCESS` marker)."""

    @abstractmethod
    def spark_path(self, prefix: str) -> str:
        """Where Spark reads a published prefix (`/local/path` or `gs://bucket/prefix`)."""


class LocalBucket(TripBucket):
    """The local profile's bucket: the lake's publish zone, with the bucket's layout and atomic swaps."""

    lake: LocalLake
    zone: str = Field(default="bucket", description="Folder of the lake standing in for gs://bucket/.")

    def _path(self, prefix: str) -> Path:
        return self.lake.path(self.zone) / prefix

    def publish(self, source: Path, prefix: str) -> Published:
        target = self._path(prefix)
        files = sorted(p for p in source.resolve().iterdir() if p.is_file() and not p.name.startswith("."))
        with replace_directory(target) as staging:
            staging.mkdir(parents=True)
            # Data first, the `_SUCCESS` marker last, as a reader of the bucket expects.
            for path in sorted(files, key=lambda p: p.name == "_SUCCESS"):
                shutil.copy2(path, staging / path.name)
        count, size = tree_size(target)
        get_dagster_logger().info(f"Published {count} files ({size} bytes) to {target}")
        return Published(uri=target.as_uri(), files=count, bytes=size)

    def is_published(self, prefix: str) -> bool:
        return (self._path(prefix) / "_SUCCESS").is_file()

    def spark_path(self, prefix: str) -> str:
        return str(self._path(prefix))
