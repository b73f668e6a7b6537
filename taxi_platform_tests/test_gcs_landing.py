"""The landing sensor on a `gs://bucket/prefix`, ticked with `build_sensor_context` over the GCS emulator."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from dagster import materialize

from taxi_platform.assets import raw_trips
from taxi_platform.profile import resources_for
from taxi_platform.resources import LocalLake, LocalLandingZone, MonthNotPublished, TripSource
from taxi_platform.resources.gcp.landing import GcsLandingZone
from taxi_platform.tlc import TripMonth
from taxi_platform_tests.support.data import GREEN_CSV
from taxi_platform_tests.support.keys import key
from taxi_platform_tests.support.sensing import BucketZone, partition_keys, tick

# What every landing zone does is tested over a folder and a bucket alike in test_landing_zones.py.


def test_folder_markers_and_objects_beside_the_prefix_are_not_listed(landing_bucket: BucketZone):
    landing_bucket.put("green/green_tripdata_2021-04.csv.gz")
    bucket = landing_bucket.bucket
    bucket.blob(f"{landing_bucket.prefix}/green/").upload_from_string(b"")  # a folder marker
    bucket.blob(f"{landing_bucket.prefix}-other/green/green_tripdata_2021-05.csv.gz").upload_from_filename(GREEN_CSV)

    listed = {landed.relative for landed in landing_bucket.zone.list_files()}
    assert listed == {"green/green_tripdata_2021-04.csv.gz"}, "no folder markers, nothing outside the prefix"
    requests, _ = tick(landing_bucket.zone, None)
    assert partition_keys(requests) == [key("green", "2021-04")]


def test_a_run_with_the_sensors_override_copies_the_landed_object(landing_bucket: BucketZone, tmp_path: Path):
    landed = landing_bucket.put("green/green_tripdata_2021-01.csv.gz")
    requests, _ = tick(landing_bucket.zone, None)
    assert partition_keys(requests) == [key("green", "2021-01")]
    data_dir = tmp_path / "data"
    resources = {"trip_source": TripSource(backoff_seconds=0.05), "lake": LocalLake(root=str(data_dir))}
    result = materialize(
        [raw_trips], resources=resources, partition_key=requests[0].partition_key, run_config=requests[0].run_config
    )
    assert result.success
    month = TripMonth.parse("green", "2021-01")
    copied = data_dir / month.raw_path
    assert hashlib.md5(copied.read_bytes()).hexdigest() == hashlib.md5(GREEN_CSV.read_bytes()).hexdigest()
    metadata = result.asset_materializations_for_node("raw_trips")[0].metadata
    assert metadata["source_url"].value == landed

    # The run takes that object only: removed before a run, it is not published, and nothing else is taken.
    source = TripSource(**requests[0].run_config["resources"]["trip_source"]["config"])
    assert source.probe(month).size == GREEN_CSV.stat().st_size
    landing_bucket.bucket.blob(f"{landing_bucket.prefix}/green/green_tripdata_2021-01.csv.gz").delete()
    assert source.probe(month) is None
    with pytest.raises(MonthNotPublished, match=rf"^green 2021-01: not published by any source \(tried: {landed}\)$"):
        source.fetch(source.locate(month), tmp_path / "never")


def test_gcp_profile_picks_the_zone_from_taxi_landing_uri(monkeypatch, gcs_emulator):
    monkeypatch.setenv("TAXI_GCS_ENDPOINT", gcs_emulator.endpoint)
    monkeypatch.delenv("TAXI_LANDING_URI", raising=False)
    assert isinstance(resources_for("gcp")["landing"], LocalLandingZone)
    monkeypatch.setenv("TAXI_LANDING_URI", "gs://some-bucket/landing")
    resources = resources_for("gcp")
    assert isinstance(resources["landing"], GcsLandingZone)
    assert isinstance(resources_for("local")["landing"], LocalLandingZone), "only the gcp profile reads it"
