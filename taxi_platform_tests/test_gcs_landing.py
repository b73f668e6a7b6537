"""The landing sensor on a `gs://bucket/prefix`, ticked with `build_sensor_context` over the GCS emulator."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from dagster import SkipReason, build_sensor_context, materialize
from google.cloud import storage

from taxi_platform.assets import raw_trips
from taxi_platform.profile import resources_for
from taxi_platform.resources import LocalLake, LocalLandingZone, MonthNotPublished, TripSource
from taxi_platform.resources.gcp.clients import GcsClient
from taxi_platform.resources.gcp.landing import GcsLandingZone
from taxi_platform.sensors import landing_files_sensor
from taxi_platform.sensors.landing import LANDED_FILE_TAG
from taxi_platform.tlc import TripMonth
from taxi_platform_tests.conftest import GREEN_CSV
from taxi_platform_tests.sensing import partition_keys, tick

PREFIX = "incoming/taxi"


@pytest.fixture
def zone(gcs_emulator) -> GcsLandingZone:
    bucket = gcs_emulator.create_bucket(f"landing-{uuid.uuid4().hex[:12]}")
    return GcsLandingZone(
        gcs=GcsClient(project="test-project", endpoint=gcs_emulator.endpoint), uri=f"gs://{bucket}/{PREFIX}"
    )


def bucket_of(zone: GcsLandingZone) -> storage.Bucket:
    return zone.gcs.get_client().bucket(zone.uri.removeprefix("gs://").split("/", 1)[0])


def upload(zone: GcsLandingZone, relative: str, source: Path = GREEN_CSV) -> storage.Blob:
    blob = bucket_of(zone).blob(f"{PREFIX}/{relative}")
    blob.upload_from_filename(str(source))
    return blob


def test_new_object_runs_once_and_again_when_reuploaded(zone: GcsLandingZone, gcs_emulator):
    requests, cursor = tick(zone, None)
    assert requests == []

    upload(zone, "green/green_tripdata_2021-02.csv.gz")
    requests, cursor = tick(zone, cursor)
    assert partition_keys(requests) == ["green|2021-02-01"]
    request = requests[0]
    landed_uri = f"{zone.uri}/green/green_tripdata_2021-02.csv.gz"
    assert request.tags[LANDED_FILE_TAG] == landed_uri
    # The run downloads from the prefix, through the same endpoint the sensor listed.
    config = request.run_config["resources"]["trip_source"]["config"]
    assert config == {"base_url": zone.uri, "gcs_endpoint": gcs_emulator.endpoint}
    assert TripSource(**config).url(TripMonth.parse("green", "2021-02")) == landed_uri

    assert tick(zone, cursor)[0] == [], "an object already seen is not run again"

    upload(zone, "green/green_tripdata_2021-02.csv.gz")  # a new generation of the same name
    again, cursor = tick(zone, cursor)
    assert partition_keys(again) == ["green|2021-02-01"]
    assert again[0].run_key != request.run_key, "a new generation is a new run"
    assert tick(zone, cursor)[0] == []


def test_bad_names_months_markers_and_hidden_objects_are_not_run(zone: GcsLandingZone, capfd):
    bad = {
        "green/green_tripdata_2021-4.csv.gz": "name is not",
        "green/notes.txt": "name is not",
        "green/green_tripdata_2018-12.csv.gz": "not a month of the partitions",
        "green/green_tripdata_2999-01.csv.gz": "not a month of the partitions",
        "yellow/green_tripdata_2021-04.csv.gz": "belongs in the green/ folder",
        "green_tripdata_2021-04.csv.gz": "belongs in the green/ folder",
    }
    for relative in bad:
        upload(zone, relative)
    bucket = bucket_of(zone)
    bucket.blob(f"{PREFIX}/green/").upload_from_string(b"")  # a folder marker
    bucket.blob(f"{PREFIX}-other/green/green_tripdata_2021-04.csv.gz").upload_from_filename(str(GREEN_CSV))
    upload(zone, "green/.green_tripdata_2021-04.csv.gz.part")
    upload(zone, ".staging/green/green_tripdata_2021-04.csv.gz")

    listed = {landed.relative for landed in zone.list_files()}
    assert listed == set(bad), "no folder markers, no hidden names, nothing outside the prefix"

    capfd.readouterr()
    requests, cursor = tick(zone, None)
    assert requests == []
    skipped = [line for line in capfd.readouterr().err.splitlines() if "Skipping" in line]
    assert len(skipped) == len(bad), skipped
    for relative, reason in bad.items():
        assert any(f"{zone.uri}/{relative}" in line and reason in line for line in skipped), (relative, skipped)
    assert tick(zone, cursor)[0] == []


def test_missing_bucket_is_a_clear_skip(gcs_emulator):
    zone = GcsLandingZone(
        gcs=GcsClient(project="test-project", endpoint=gcs_emulator.endpoint), uri="gs://no-such-landing/x"
    )
    with build_sensor_context(resources={"landing": zone}) as context:
        result = landing_files_sensor(context)
    assert isinstance(result, SkipReason)
    assert "gs://no-such-landing: the landing bucket does not exist" in result.skip_message


def test_a_run_with_the_sensors_override_copies_the_landed_object(zone: GcsLandingZone, tmp_path: Path):
    upload(zone, "green/green_tripdata_2021-01.csv.gz")
    requests, _ = tick(zone, None)
    assert partition_keys(requests) == ["green|2021-01-01"]
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
    assert metadata["source_url"].value == f"{zone.uri}/green/green_tripdata_2021-01.csv.gz"

    # The same source names a month that never landed the way an http mirror does.
    source = TripSource(**requests[0].run_config["resources"]["trip_source"]["config"])
    assert source.probe(TripMonth.parse("green", "2021-03")) is None
    assert source.probe(month).size == GREEN_CSV.stat().st_size
    with pytest.raises(MonthNotPublished, match=f"{zone.uri}/green/green_tripdata_2021-03.csv.gz"):
        source.download(TripMonth.parse("green", "2021-03"), tmp_path / "never")


def test_gcp_profile_picks_the_zone_from_taxi_landing_uri(monkeypatch, gcs_emulator):
    monkeypatch.setenv("TAXI_GCS_ENDPOINT", gcs_emulator.endpoint)
    monkeypatch.delenv("TAXI_LANDING_URI", raising=False)
    assert isinstance(resources_for("gcp")["landing"], LocalLandingZone)
    monkeypatch.setenv("TAXI_LANDING_URI", "gs://some-bucket/landing")
    resources = resources_for("gcp")
    assert isinstance(resources["landing"], GcsLandingZone)
    assert isinstance(resources_for("local")["landing"], LocalLandingZone), "only the gcp profile reads it"


def test_definitions_import_no_google_library():
    code = "import sys, taxi_platform.definitions; print(sorted(m for m in sys.modules if m.startswith('google')))"
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "[]"
