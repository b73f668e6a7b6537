"""Landing zones as the sensor tests drive them: files put into a folder or a bucket, one tick as the daemon runs it.

`FolderZone` and `BucketZone` put files into a real `LocalLandingZone` or `GcsLandingZone` (over the GCS
emulator) and say, independently of the zone's own code, what the sensor should report for them, so one
contract test (`test_landing_zones.py`) runs the same behaviour over both.
"""

from __future__ import annotations

import os
import shutil
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dagster import (
    AssetMaterialization,
    DagsterInstance,
    SensorResult,
    SkipReason,
    build_sensor_context,
    instance_for_test,
)

from taxi_platform.resources import LandingZone, LocalLandingZone
from taxi_platform.sensors import landing_files_sensor
from taxi_platform_tests.support.data import GREEN_CSV

if TYPE_CHECKING:
    from google.cloud import storage

    from taxi_platform.resources.gcp.landing import GcsLandingZone


@contextmanager
def instance_with_zones(temp_dir: Path | None = None) -> Iterator[DagsterInstance]:
    """A test instance where taxi_zones is materialized, as it is once a sensor's first run took it."""
    with instance_for_test(temp_dir=str(temp_dir) if temp_dir else None) as instance:
        instance.report_runless_asset_event(AssetMaterialization("taxi_zones"))
        yield instance


def tick(zone: LandingZone, cursor: str | None) -> tuple[list, str | None]:
    """(run requests, new cursor); the context is opened as the daemon opens it (nested resources need it)."""
    with (
        instance_with_zones() as instance,
        build_sensor_context(instance=instance, cursor=cursor, resources={"landing": zone}) as context,
    ):
        result = landing_files_sensor(context)
    if isinstance(result, SkipReason):
        return [], cursor
    assert isinstance(result, SensorResult)
    return list(result.run_requests or []), result.cursor


def partition_keys(requests: list) -> list[str]:
    return [str(request.partition_key) for request in requests]


class ZoneUnderTest(ABC):
    """A landing zone with the means to put files into it, and what its sensor should say about them."""

    zone: LandingZone

    @abstractmethod
    def put(self, relative: str, source: Path = GREEN_CSV) -> str:
        """Write `source` under `relative` as it is (no publishing protocol); returns the file's URI."""

    def drop(self, relative: str, source: Path = GREEN_CSV) -> str:
        """Publish a file the way the docs ask a user to; returns the file's URI."""
        return self.put(relative, source)

    @abstractmethod
    def uri(self, relative: str) -> str:
        """The URI the sensor names the file by (tags, log lines)."""

    @abstractmethod
    def source_config(self, relative: str) -> dict[str, str]:
        """The `trip_source` config a run needs to take the file landed at `relative`."""

    @abstractmethod
    def missing(self) -> tuple[LandingZone, str]:
        """A zone of the same kind that does not exist, and what the sensor's skip message says of it."""


@dataclass
class FolderZone(ZoneUnderTest):
    root: Path

    @property
    def zone(self) -> LocalLandingZone:
        return LocalLandingZone(root=str(self.root))

    def put(self, relative: str, source: Path = GREEN_CSV) -> str:
        target = self.root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        return target.as_uri()

    def drop(self, relative: str, source: Path = GREEN_CSV) -> str:
        """Write a hidden temporary, then rename it into place."""
        target = self.root / relative
        temporary = target.with_name(f".{target.name}.part")
        shutil.copyfile(source, temporary)
        os.replace(temporary, target)
        return target.as_uri()

    def uri(self, relative: str) -> str:
        return (self.root / relative).as_uri()

    def source_config(self, relative: str) -> dict[str, str]:
        return {"file_url": self.uri(relative)}

    def missing(self) -> tuple[LandingZone, str]:
        nowhere = self.root.parent / "nowhere"
        return LocalLandingZone(root=str(nowhere)), f"{nowhere}: the landing folder does not exist"


@dataclass
class BucketZone(ZoneUnderTest):
    zone: GcsLandingZone
    bucket: storage.Bucket
    prefix: str
    endpoint: str  # the GCS emulator's

    def put(self, relative: str, source: Path = GREEN_CSV) -> str:
        self.bucket.blob(f"{self.prefix}/{relative}").upload_from_filename(str(source))
        return self.uri(relative)

    def uri(self, relative: str) -> str:
        return f"gs://{self.bucket.name}/{self.prefix}/{relative}"

    def source_config(self, relative: str) -> dict[str, str]:
        return {"file_url": self.uri(relative), "gcs_endpoint": self.endpoint}

    def missing(self) -> tuple[LandingZone, str]:
        from taxi_platform.resources.gcp.landing import GcsLandingZone

        zone = GcsLandingZone(gcs=self.zone.gcs, uri="gs://no-such-landing/x")
        return zone, "gs://no-such-landing: the landing bucket does not exist"
