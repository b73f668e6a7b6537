"""The lake: raw files, typed versions, staging, quarantine and records, behind one port (`Lake`).

Two implementations: `LocalLake` below (a folder; on a cluster of several hosts, a folder every worker
mounts) and `GcsLake` (resources/gcp/lake.py, a bucket prefix every Dataproc worker reads). The
stages get the lake's locations (paths or `gs://` URIs) and never ask which one it is.

The local lake: folders with atomic, idempotent per-partition writes, and nothing but data in the zones.

Other tools read the lake by globbing its zones (`pq/green/2021/*/`, `bucket/pq/green/*/*`), and
Hadoop's and DuckDB's globs match hidden names too. So whatever keeps a write atomic lives in one
store at the lake's root, on the lake's filesystem, where no glob over a zone reaches:

    <root>/.taxi_platform/
        versions/<zone path>/v-<stamp>-<id>/    a partition's versions (`versions/pq/green/2021/01/`)
        versions/<zone path>/v-<stamp>-<id>.json    the record of what that version holds
        records/<zone path of a file>.json      the record of a file partition (a raw download)
        staging/                                downloads being written, links about to be swapped in

A partition directory (`pq/green/2021/01`) is a relative symlink to its current version. A writer
fills a fresh version in the store, makes the new link in staging and `os.replace`s it onto the
partition path: one rename, so readers see the old partition or the new one, never half of one. A
file (a raw download) is written in staging and `os.replace`d into place. A crash leaves the previous
version published and its own leftovers in the store; a later write removes them once they are stale.

A partition may keep a record (a small JSON object: where it came from, its facts) so that a rerun
can tell that nothing changed. A directory's record sits beside its version and is published by the
same rename as the version; a file's record names the file's size and modification time, so a record
that a crash left behind never describes another file. `LocalLake.record` returns only a record that
matches what is published.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
import tempfile
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from dagster import ConfigurableResource
from pydantic import Field

from taxi_platform.audits import ParquetFiles, parquet_files

STORE = ".taxi_platform"
RECORD = ".json"  # a version's record: `v-<stamp>-<id>.json` beside `v-<stamp>-<id>/`
_FILE_KEY = "_file"  # in a file's record: the size and mtime of the file it describes
# Written last into a finished partition directory (by Spark, and by the bucket after the data).
SUCCESS = "_SUCCESS"
# Leftovers younger than this may belong to a writer still at work; older ones are a crash's.
STALE_SECONDS = 3600
# Lake roots this process has swept of stale versions: once per process each.
_swept: set[Path] = set()
_sweeping = threading.Lock()


def _new_id() -> str:
    return f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
    elif path.exists():
        shutil.rmtree(path, ignore_errors=True)


def _newest_change(path: Path) -> float:
    """The latest modification time in a tree: a writer still filling it keeps this recent."""
    newest = path.lstat().st_mtime
    if path.is_dir() and not path.is_symlink():
        for folder, dirs, files in os.walk(path):
            for name in dirs + files:
                with contextlib.suppress(FileNotFoundError):
                    newest = max(newest, os.lstat(os.path.join(folder, name)).st_mtime)
    return newest


def _is_stale(path: Path) -> bool:
    try:
        return time.time() - _newest_change(path) > STALE_SECONDS
    except FileNotFoundError:
        return False  # removed by someone else meanwhile


def _file_identity(path: Path) -> dict[str, int]:
    """What tells one write of a file from another: its size and modification time (kept by a rename)."""
    status = path.stat()
    return {"bytes": status.st_size, "mtime_ns": status.st_mtime_ns}


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError):
        return None


def _write_json(path: Path, record: Mapping[str, Any], staging: Path | None = None) -> None:
    """Write whole or not at all: into a temporary file (beside it, or in `staging`), then one rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = (staging or path.parent) / f".{_new_id()}.{path.name}.part"
    try:
        temporary.write_text(json.dumps(record, indent=1, sort_keys=True, default=str))
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


@dataclass(frozen=True)
class Store:
    """The lake's bookkeeping at `<root>/.taxi_platform`, and the atomic writes that use it."""

    root: Path

    @property
    def home(self) -> Path:
        return self.root / STORE

    @property
    def staging(self) -> Path:
        return self.home / "staging"

    def record_path(self, target: Path) -> Path:
        """Where a file partition's record lives: the store's mirror of its zone path, plus `.json`."""
        return self.home / "records" / f"{self.versions_of(target).relative_to(self.home / 'versions')}{RECORD}"

    def keep_record(self, written: Path, record: Mapping[str, Any]) -> None:
        """Keep `record` with a version directory or a staged file that a `replace_*` block yielded.

        A version's record is written beside it (before or after it is published); a staged file's
        is moved into place by `replace_file` with the file.
        """
        _write_json(Path(f"{written}{RECORD}"), record)

    def record(self, target: Path) -> dict[str, Any] | None:
        """The record kept with what `target` holds now; None when there is none or it describes another write."""
        if target.is_symlink():
            version = target.resolve()
            if version.parent != self.versions_of(target).resolve():
                return None  # a plain or previous-layout directory: written without a record
            return _read_json(Path(f"{version}{RECORD}"))
        if not target.is_file():
            return None
        record = _read_json(self.record_path(target))
        if record is None or record.pop(_FILE_KEY, None) != _file_identity(target):
            return None
        return record

    def versions_of(self, target: Path) -> Path:
        """Where the versions of a partition directory live: the store's mirror of its zone path."""
        relative = target.relative_to(self.root)
        if ".." in relative.parts or not relative.parts or relative.parts[0] == STORE:
            raise ValueError(f"{target}: not a partition path inside the lake {self.root}")
        return self.home / "versions" / relative

    @contextmanager
    def replace_file(self, target: Path) -> Iterator[Path]:
        """Yield a temporary path in staging; move it onto `target` only if the block succeeds."""
        self._prepare(target)
        temporary = self.staging / f"{_new_id()}.{target.name}.part"
        staged_record = Path(f"{temporary}{RECORD}")
        try:
            yield temporary
            if not temporary.exists():
                return  # the block wrote nothing (a 304: the file held is current): keep the target as it is
            record = _read_json(staged_record)
            if record is not None:  # identified before the rename: a rename keeps size and mtime
                record[_FILE_KEY] = _file_identity(temporary)
            self._rename(temporary, target)
            self._keep_file_record(target, record)
        finally:
            temporary.unlink(missing_ok=True)
            staged_record.unlink(missing_ok=True)

    def _keep_file_record(self, target: Path, record: dict[str, Any] | None) -> None:
        path = self.record_path(target)
        if record is None:
            path.unlink(missing_ok=True)
        else:
            _write_json(path, record, staging=self.staging)

    def remove_file(self, target: Path) -> None:
        """Remove a file partition and its record."""
        target.unlink(missing_ok=True)
        self.record_path(target).unlink(missing_ok=True)

    @contextmanager
    def replace_directory(self, target: Path) -> Iterator[Path]:
        """Yield a fresh (not yet created) version directory; on success `target` links to it, atomically."""
        self._prepare(target)
        versions = self.versions_of(target)
        versions.mkdir(parents=True, exist_ok=True)
        version = versions / f"v-{_new_id()}"
        try:
            yield version
            if not version.is_dir():
                raise RuntimeError(f"nothing was written to {version}")
            self._publish(target, version)
        except BaseException:
            _remove(version)
            raise
        self._remove_stale_versions(target)

    def _prepare(self, target: Path) -> None:
        """Before each write: the lake swept once per process, staging free of stale leftovers."""
        target.parent.mkdir(parents=True, exist_ok=True)
        self.staging.mkdir(parents=True, exist_ok=True)
        with _sweeping:
            if self.root not in _swept:
                self.sweep()
                _swept.add(self.root)
        for leftover in self.staging.iterdir():
            if _is_stale(leftover):
                _remove(leftover)

    def _rename(self, source: Path, target: Path) -> None:
        try:
            os.replace(source, target)
        except OSError as error:
            if error.errno == errno.EXDEV:
                raise OSError(
                    error.errno, f"{target.parent} is on another filesystem than the lake's store {self.home}: "
                    "keep the lake's zones inside its folder, not linked to another disk"
                ) from error  # fmt: skip
            raise

    def _publish(self, target: Path, version: Path) -> None:
        """Point `target` at `version` with one rename; remove the version it pointed at before."""
        previous = target.resolve() if target.is_symlink() else None
        link = self.staging / f"{_new_id()}.link"
        # Relative, from where the link will be: the lake can be moved or mounted elsewhere.
        link.symlink_to(os.path.relpath(version.resolve(), target.parent.resolve()), target_is_directory=True)
        try:
            if target.is_dir() and not target.is_symlink():
                # A plain directory (e.g. copied in by hand) cannot be swapped in one rename.
                previous = self.versions_of(target).resolve() / f"plain-{_new_id()}"
                target.rename(previous)
            self._rename(link, target)
        finally:
            link.unlink(missing_ok=True)
        if previous is not None and previous != version.resolve() and self._owns(target, previous):
            _remove(previous)
            Path(f"{previous}{RECORD}").unlink(missing_ok=True)

    def _owns(self, target: Path, version: Path) -> bool:
        """True for a version of `target` kept by this store, not a user's folder."""
        return version.parent == self.versions_of(target).resolve()

    def _remove_stale_versions(self, target: Path) -> None:
        """Versions no link points at (a crashed writer's), old enough that no writer is still filling them."""
        versions = self.versions_of(target)
        if not versions.is_dir():
            return
        current = target.resolve() if target.is_symlink() else None
        for candidate in versions.iterdir():
            described = Path(str(candidate).removesuffix(RECORD)) if candidate.name.endswith(RECORD) else candidate
            if described.resolve() != current and _is_stale(candidate):
                _remove(candidate)

    def sweep(self) -> None:
        """Remove the store's stale versions (a crashed writer's), in every zone.

        Holds a lock file so that processes writing at the same time sweep one after another.
        """
        if not self.root.is_dir():
            return
        self.home.mkdir(exist_ok=True)
        with (self.home / "sweep.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                versions = self.home / "versions"
                for folder, dirs, _ in os.walk(versions):
                    if any(name.startswith(("v-", "plain-")) for name in dirs):
                        dirs.clear()
                        self._remove_stale_versions(self.root / Path(folder).relative_to(versions))
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


@dataclass(frozen=True)
class Stored:
    """Where a lake file or partition is and what it holds, for metadata."""

    uri: str
    files: int
    bytes: int
    path: str | None = None  # on the local disk


class StagedFile(ABC):
    """A file being written into the lake (a download): written, read back to be checked, then published or dropped."""

    name: str  # shown in logs

    @abstractmethod
    def open_write(self) -> BinaryIO:
        """A fresh stream over the file (a retried download starts again)."""

    @abstractmethod
    def open_read(self) -> BinaryIO: ...

    @abstractmethod
    def exists(self) -> bool: ...

    @abstractmethod
    def discard(self) -> None: ...


@dataclass
class LocalStagedFile(StagedFile):
    path: Path

    @property
    def name(self) -> str:  # type: ignore[override]
        return str(self.path)

    def open_write(self) -> BinaryIO:
        return open(self.path, "wb")

    def open_read(self) -> BinaryIO:
        return open(self.path, "rb")

    def exists(self) -> bool:
        return self.path.exists()

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)


class Lake(ConfigurableResource, ABC):
    """The lake's zones (`raw/`, `pq/`, `quarantine/`), each partition written whole, audited, then published.

    Partitions are named by their zone path (`pq/green/2021/01`); a location (`uri`) is what Spark and
    pyarrow read or write: a local path, or a `gs://` URI.
    """

    @abstractmethod
    def uri(self, relative: str) -> str:
        """Where the partition or file at `relative` is read now (a directory's current version)."""

    @abstractmethod
    def describe(self, relative: str) -> Stored: ...

    @abstractmethod
    def replace_file(self, relative: str) -> AbstractContextManager[StagedFile]:
        """A file to write; on success (if written) it becomes the file at `relative`, with its record."""

    @abstractmethod
    def replace_directory(self, relative: str) -> AbstractContextManager[Any]:
        """A fresh version location; on success it becomes the partition at `relative`, at once."""

    @abstractmethod
    def keep_record(self, written: Any, record: Mapping[str, Any]) -> None:
        """Keep a small JSON record with what a `replace_*` block yielded (a staged file or a version)."""

    @abstractmethod
    def record(self, relative: str) -> dict[str, Any] | None:
        """The record kept with what `relative` holds now; None when none describes it."""

    @abstractmethod
    def first_file(self, relatives: tuple[str, ...] | list[str]) -> str | None:
        """The first of `relatives` that is a file (a raw partition is one file, in the format it was published in)."""

    @abstractmethod
    def opener(self, relative: str) -> Callable[[], BinaryIO]:
        """What opens the file at `relative` for reading."""

    @abstractmethod
    def remove_file(self, relative: str) -> None:
        """Remove a file and its record (a month's raw file in a format it is no longer published in)."""

    @abstractmethod
    def staging_area(self, name: str) -> AbstractContextManager[str]:
        """A location outside the zones for one job's many outputs; removed afterwards."""

    @abstractmethod
    def move_into(self, written: str, version: Any, copy: bool = False) -> None:
        """The files of a folder a job wrote in a staging area, moved (or copied) into a version a
        `replace_directory` block yielded, with the `_SUCCESS` marker a `partitionBy` folder lacks."""

    @abstractmethod
    def is_finished(self, relative: str) -> bool:
        """True when the partition at `relative` holds a complete write."""

    @abstractmethod
    def parquet_files(self, location: Any) -> ParquetFiles:
        """The parquet files of a version or partition location, readable by pyarrow where they are."""


class LocalLake(Lake):
    """The lake's zones (`raw/`, `pq/`, the local bucket `bucket/`) under one local folder."""

    root: str = Field(description="Folder that holds the lake zones.")

    def path(self, relative: str) -> Path:
        return Path(self.root).expanduser().absolute() / relative

    def uri(self, relative: str) -> str:
        return str(self.path(relative))

    def describe(self, relative: str) -> Stored:
        path = self.path(relative)
        files, size = tree_size(path)
        return Stored(uri=path.absolute().as_uri(), files=files, bytes=size, path=str(path))

    def store(self) -> Store:
        return Store(self.path(""))

    @contextmanager
    def replace_file(self, relative: str) -> Iterator[LocalStagedFile]:
        """A temporary file (in the lake's store); on success it becomes the file at `relative`."""
        with self.store().replace_file(self.path(relative)) as temporary:
            yield LocalStagedFile(temporary)

    def replace_directory(self, relative: str) -> AbstractContextManager[Path]:
        """A fresh version directory (in the lake's store); on success `relative` links to it."""
        return self.store().replace_directory(self.path(relative))

    def keep_record(self, written: Path | str | LocalStagedFile, record: Mapping[str, Any]) -> None:
        """Keep a small JSON record of what a write holds, with the path a `replace_*` block yielded."""
        self.store().keep_record(written.path if isinstance(written, LocalStagedFile) else Path(written), record)

    def record(self, relative: str) -> dict[str, Any] | None:
        """The record kept with the partition at `relative`, if it still describes what is published."""
        return self.store().record(self.path(relative))

    def first_file(self, relatives: tuple[str, ...] | list[str]) -> str | None:
        return next((relative for relative in relatives if self.path(relative).is_file()), None)

    def opener(self, relative: str) -> Callable[[], BinaryIO]:
        return LocalStagedFile(self.path(relative)).open_read

    def remove_file(self, relative: str) -> None:
        self.store().remove_file(self.path(relative))

    @contextmanager
    def staging_area(self, name: str) -> Iterator[str]:
        """A folder in the lake's store, on the lake's disk (publishing from it is a rename per file)."""
        staging = self.store().staging
        staging.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=staging))
        try:
            yield str(folder)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def move_into(self, written: str, version: Path | str, copy: bool = False) -> None:
        target = Path(version)
        target.mkdir(parents=True)
        for path in sorted(Path(written).iterdir()):
            if path.is_file():
                (shutil.copy2 if copy else os.replace)(path, target / path.name)
        (target / SUCCESS).touch()

    def is_finished(self, relative: str) -> bool:
        """True when a partition directory holds a complete write (its `_SUCCESS` marker)."""
        return (self.path(relative) / SUCCESS).is_file()

    def parquet_files(self, location: Path | str) -> ParquetFiles:
        return parquet_files(location)


def tree_size(path: Path) -> tuple[int, int]:
    """(visible files, bytes) under a file or a partition directory."""
    if path.is_file():
        return 1, path.stat().st_size
    files = [p for p in path.resolve().rglob("*") if p.is_file() and not p.name.startswith(".")]
    return len(files), sum(p.stat().st_size for p in files)
