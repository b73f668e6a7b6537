"""The sensors, ticked with `build_sensor_context` over a real landing folder and the loopback mirror."""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path

import pytest
from dagster import AssetMaterialization, SkipReason, build_sensor_context, instance_for_test

from taxi_platform.resources import LocalLandingZone, TripSource
from taxi_platform.sensors import landing_files_sensor, source_months_sensor
from taxi_platform.sensors.landing import LANDED_FILE_TAG, LandingCursor
from taxi_platform.partitions import trip_months
from taxi_platform.sensors.source import PROBES_PER_TICK
from taxi_platform_tests.conftest import GREEN_CSV, MOVED_GREEN_MONTHS
from taxi_platform_tests.sensing import partition_keys
from taxi_platform_tests.sensing import tick as zone_tick


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    root = tmp_path / "landing"
    (root / "green").mkdir(parents=True)
    (root / "yellow").mkdir()
    return root


def drop(source: Path, target: Path) -> Path:
    """Publish a file the way the README asks: write a hidden temporary, then rename it into place."""
    temporary = target.parent / f".{target.name}.part"
    shutil.copyfile(source, temporary)
    os.replace(temporary, target)
    return target


def tick(landing: Path, cursor: str | None) -> tuple[list, str | None]:
    return zone_tick(LocalLandingZone(root=str(landing)), cursor)


def test_new_file_runs_its_partition_once_and_again_when_republished(landing: Path, tmp_path: Path):
    requests, cursor = tick(landing, None)
    assert requests == []

    landed = drop(GREEN_CSV, landing / "green/green_tripdata_2021-02.csv.gz")
    requests, cursor = tick(landing, cursor)
    assert partition_keys(requests) == ["green|2021-02-01"]
    request = requests[0]
    assert landing_files_sensor.job_name == "trip_chain", "the run goes through all five stages"
    assert request.tags[LANDED_FILE_TAG] == landed.as_uri()
    # The run downloads from the landing folder, so raw_trips reads exactly the landed file.
    assert request.run_config["resources"]["trip_source"]["config"]["base_url"] == landing.as_uri()
    assert TripSource(base_url=landing.as_uri()).url(_month("green", "2021-02")) == landed.as_uri()

    requests, cursor = tick(landing, cursor)
    assert requests == [], "a file already seen is not run again"

    # A daemon restart reads the same cursor string back from the instance's storage.
    again, _ = tick(landing, LandingCursor.parse(cursor).serialize())
    assert again == []

    drop(GREEN_CSV, landing / "green/green_tripdata_2021-02.csv.gz")  # republished
    republished, cursor = tick(landing, cursor)
    assert partition_keys(republished) == ["green|2021-02-01"]
    assert republished[0].run_key != request.run_key, "a new version is a new run"
    assert tick(landing, cursor)[0] == []


def test_several_files_in_one_tick_each_get_their_partition(landing: Path):
    for month in ("2021-03", "2021-01"):
        drop(GREEN_CSV, landing / f"green/green_tripdata_{month}.csv.gz")
    drop(GREEN_CSV, landing / "yellow/yellow_tripdata_2021-01.csv.gz")
    requests, cursor = tick(landing, None)
    assert sorted(partition_keys(requests)) == ["green|2021-01-01", "green|2021-03-01", "yellow|2021-01-01"]
    assert tick(landing, cursor)[0] == []


def test_bad_names_months_and_paths_are_skipped_with_a_log_line(landing: Path, tmp_path: Path, capfd):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    escaped = drop(GREEN_CSV, outside / "green_tripdata_2021-04.csv.gz")
    bad = {
        "green/green_tripdata_2021-4.csv.gz": "name is not",
        "green/green_tripdata_2021-04.csv": "name is not",
        "green/notes.txt": "name is not",
        "green/purple_tripdata_2021-04.csv.gz": "name is not",
        "green/green_tripdata_2021-13.csv.gz": "name is not",
        "green/green_tripdata_2018-12.csv.gz": "not a month of the partitions",
        "green/green_tripdata_2999-01.csv.gz": "not a month of the partitions",
        "yellow/green_tripdata_2021-04.csv.gz": "belongs in the green/ folder",
        "green_tripdata_2021-04.csv.gz": "belongs in the green/ folder",
    }
    for relative in bad:
        drop(GREEN_CSV, landing / relative)
    (landing / "green/green_tripdata_2021-05.csv.gz").symlink_to(escaped)

    capfd.readouterr()
    requests, cursor = tick(landing, None)
    assert requests == []
    skipped = [line for line in capfd.readouterr().err.splitlines() if "Skipping" in line]
    assert len(skipped) == len(bad) + 1, skipped
    for relative, reason in bad.items():
        assert any(relative.rsplit("/", 1)[-1] in line and reason in line for line in skipped), (relative, skipped)
    assert any(escaped.as_uri() in line and "outside the landing folder" in line for line in skipped), skipped

    assert tick(landing, cursor)[0] == []
    assert "Skipping" not in capfd.readouterr().err, "skipped files are logged once"


def test_unfinished_drops_are_not_seen_and_the_cursor_stays_small(landing: Path):
    (landing / "green/.green_tripdata_2021-02.csv.gz.part").write_bytes(b"half a file")
    requests, cursor = tick(landing, None)
    assert requests == []
    for year in (2019, 2020):
        for month in range(1, 13):
            drop(GREEN_CSV, landing / f"green/green_tripdata_{year}-{month:02d}.csv.gz")
    requests, cursor = tick(landing, cursor)
    assert len(requests) == 24
    assert len(cursor) < 1000, "the cursor is a high-water mark, not a list of every file seen"
    drop(GREEN_CSV, landing / "green/green_tripdata_2021-01.csv.gz")
    requests, _ = tick(landing, cursor)
    assert partition_keys(requests) == ["green|2021-01-01"]


def test_missing_landing_folder_is_a_clear_skip(tmp_path: Path):
    context = build_sensor_context(resources={"landing": LocalLandingZone(root=str(tmp_path / "nowhere"))})
    result = landing_files_sensor(context)
    assert isinstance(result, SkipReason)
    assert "nowhere: the landing folder does not exist" in result.skip_message


def _month(color: str, month: str):
    from taxi_platform.tlc import TripMonth

    return TripMonth.parse(color, month)


def test_source_sensor_heads_missing_months_in_turn_and_requests_the_published(mirror, tmp_path: Path):
    published = {"green|2021-01-01", "yellow|2021-01-01", *(f"green|{m}-01" for m in MOVED_GREEN_MONTHS)}
    order = trip_months()
    missing = len(order) - 1  # yellow 2021-01 is materialized below
    with instance_for_test(temp_dir=str(tmp_path)) as instance:
        instance.report_runless_asset_event(AssetMaterialization("raw_trips", partition="yellow|2021-01-01"))
        resources = {"trip_source": TripSource(base_url=mirror.url)}
        cursor, requested, probes_per_tick = None, [], []
        for _ in range(math.ceil(missing / PROBES_PER_TICK)):
            heads_before = len(mirror.head_requests)
            result = source_months_sensor(build_sensor_context(instance=instance, cursor=cursor, resources=resources))
            probes_per_tick.append(len(mirror.head_requests) - heads_before)
            requested += list(result.run_requests or [])
            cursor = result.cursor

    assert max(probes_per_tick) == PROBES_PER_TICK, probes_per_tick
    assert len(set(mirror.head_requests)) == len(mirror.head_requests) == missing, "each missing month once"
    assert mirror.requests == [], "probing downloads nothing"
    assert sorted(partition_keys(requested)) == sorted(published - {"yellow|2021-01-01"})
    assert source_months_sensor.job_name == "trip_chain"
    assert all(request.run_key.startswith(f"{request.partition_key}@") for request in requested)
