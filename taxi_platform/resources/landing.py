"""Landing zones: where new monthly files are dropped, as the release or the TLC names them.

A zone holds `{color}/{color}_tripdata_{YYYY}-{MM}.csv.gz` (the course's release) or `.parquet` (the
TLC's feed). A run for a landed file takes exactly that file: `trip_source_config(relative)` sets
`TripSource.file_url`, so the code that downloads a published month copies it (streamed, checked,
atomic replace into `raw/`).

`list_files` is what the landing sensor calls every tick. Each listed file carries a `version` that
grows whenever the file is written again (a local file's ctime, a GCS object's generation), so the
sensor keeps a high-water mark instead of a fingerprint per file. A GCS zone (`gcp/landing.py`,
gcp profile only) lists `list_blobs(prefix=...)` and yields (name minus prefix, generation, size).
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from dagster import ConfigurableResource
from pydantic import Field


class LandingZoneMissing(FileNotFoundError):
    """The landing zone itself is not there (wrong TAXI_LANDING_DIR, unmounted disk)."""


@dataclass(frozen=True)
class LandedFile:
    relative: str  # '/'-separated path under the zone; starts with '../' when a link points outside it
    version: int  # grows each time the file is (re)written: ctime in ns, or a GCS generation
    size: int
    uri: str


class LandingZone(ConfigurableResource, ABC):
    """A place new monthly files appear, listed cheaply and read through `TripSource`."""

    @abstractmethod
    def list_files(self) -> Iterator[LandedFile]:
        """Every visible file of the zone and its version, without opening any of them."""

    @property
    @abstractmethod
    def source_url(self) -> str:
        """The zone's URL: landed files are under it, at their relative paths."""

    def trip_source_config(self, relative: str) -> dict[str, str]:
        """The run config of `trip_source` that makes a run take the landed file at `relative`, and nothing else."""
        return {"file_url": f"{self.source_url.rstrip('/')}/{relative}"}


class LocalLandingZone(LandingZone):
    """A local folder: `{root}/{color}/{color}_tripdata_{YYYY}-{MM}.csv.gz` or `.parquet`.

    Drop files atomically (write `.name.part`, then rename): names starting with a dot are not
    listed. A file rewritten in place is seen again when its writer finishes, since that changes
    its ctime once more.
    """

    root: str = Field(description="Folder new monthly files are dropped into (TAXI_LANDING_DIR).")

    @property
    def path(self) -> Path:
        return Path(self.root).expanduser().absolute()

    @property
    def source_url(self) -> str:
        return self.path.as_uri()

    def list_files(self) -> Iterator[LandedFile]:
        root = self.path
        if not root.is_dir():
            raise LandingZoneMissing(f"{root}: the landing folder does not exist (TAXI_LANDING_DIR)")
        real_root = root.resolve()
        # The zone's top level and one level of folders: one scandir each, one stat per entry.
        with os.scandir(root) as top:
            for entry in top:
                if entry.name.startswith("."):
                    continue
                if entry.is_dir():
                    yield from _files_in(entry, real_root)
                elif entry.is_file():
                    yield from _landed(entry, entry.name, real_root, linked=entry.is_symlink())


def _files_in(folder: os.DirEntry, real_root: Path) -> Iterator[LandedFile]:
    folder_linked = folder.is_symlink()
    with os.scandir(folder.path) as entries:
        for entry in entries:
            if not entry.name.startswith(".") and entry.is_file():
                linked = folder_linked or entry.is_symlink()
                yield from _landed(entry, f"{folder.name}/{entry.name}", real_root, linked)


def _landed(entry: os.DirEntry, relative: str, real_root: Path, linked: bool) -> Iterator[LandedFile]:
    try:
        stat = entry.stat()  # follows links: a re-pointed link's target has its own ctime
    except FileNotFoundError:
        return  # removed (or renamed into place) since the listing: the next tick sees its new name
    path = Path(entry.path)
    if linked:  # only links pay for a resolve; it shows where the file really is
        path = path.resolve()
        relative = os.path.relpath(path, real_root).replace(os.sep, "/")
    yield LandedFile(relative=relative, version=stat.st_ctime_ns, size=stat.st_size, uri=path.as_uri())
