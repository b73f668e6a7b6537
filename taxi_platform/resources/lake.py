"""Local folders with atomic, idempotent per-partition writes.

A partition directory is a symlink to a hidden version directory. A writer fills a fresh version
and then swaps the link with one `rename`, so readers see the old partition or the new one, never
half of one, and a crash mid-write leaves the previous version in place.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from dagster import ConfigurableResource
from pydantic import Field

_STALE_SECONDS = 3600
# Written last into a finished partition directory (by Spark, and by the bucket after the data).
SUCCESS = "_SUCCESS"


def _version_name(name: str) -> str:
    return f".{name}.v-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
    elif path.exists():
        shutil.rmtree(path, ignore_errors=True)


@contextmanager
def replace_file(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside `target`; move it into place only if the block succeeds."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.parent / f".{target.name}.{uuid.uuid4().hex[:8]}.part"
    try:
        yield temporary
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


@contextmanager
def replace_directory(target: Path) -> Iterator[Path]:
    """Yield a fresh (not yet created) directory; on success it becomes `target` atomically."""
    parent = target.parent
    parent.mkdir(parents=True, exist_ok=True)
    version = parent / _version_name(target.name)
    try:
        yield version
        if not version.is_dir():
            raise RuntimeError(f"nothing was written to {version}")
        previous = target.resolve() if target.is_symlink() else None
        link = parent / f".{target.name}.link-{uuid.uuid4().hex[:8]}"
        link.symlink_to(version.name, target_is_directory=True)
        if target.exists() and not target.is_symlink():
            # A plain directory (e.g. copied in by hand) cannot be swapped in one rename.
            legacy = parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
            target.rename(legacy)
            previous = legacy
        os.replace(link, target)
        if previous is not None and previous != version.resolve():
            _remove(previous)
        _remove_stale_versions(target)
    except BaseException:
        _remove(version)
        raise


def _remove_stale_versions(target: Path) -> None:
    """Versions left by crashed writers; old enough that no writer can still be filling them."""
    current = target.resolve().name
    for candidate in target.parent.glob(f".{target.name}.*"):
        if candidate.name != current and time.time() - candidate.lstat().st_mtime > _STALE_SECONDS:
            _remove(candidate)


def tree_size(path: Path) -> tuple[int, int]:
    """(visible files, bytes) under a file or a partition directory."""
    if path.is_file():
        return 1, path.stat().st_size
    files = [p for p in path.resolve().rglob("*") if p.is_file() and not p.name.startswith(".")]
    return len(files), sum(p.stat().st_size for p in files)


class LocalLake(ConfigurableResource):
    """The lake's zones (`raw/`, `pq/`, `report/`) under one local folder."""

    root: str = Field(description="Folder that holds the lake zones.")

    def path(self, relative: str) -> Path:
        return Path(self.root).expanduser().absolute() / relative

    def replace_file(self, relative: str) -> AbstractContextManager[Path]:
        return replace_file(self.path(relative))

    def replace_directory(self, relative: str) -> AbstractContextManager[Path]:
        return replace_directory(self.path(relative))

    def is_finished(self, relative: str) -> bool:
        """True when a partition directory holds a complete write (its `_SUCCESS` marker)."""
        return (self.path(relative) / SUCCESS).is_file()
