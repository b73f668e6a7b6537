"""The sensors, ticked with `build_sensor_context` over a real landing folder and the loopback mirror."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

from dagster import AssetMaterialization, build_sensor_context, instance_for_test

from taxi_platform.partitions import trip_months
from taxi_platform.resources import TripSource
from taxi_platform.sensors import source_months_sensor
from taxi_platform.sensors.source import PROBES_PER_TICK
from taxi_platform_tests.support.data import GREEN_CSV, MOVED_GREEN_MONTHS
from taxi_platform_tests.support.keys import key
from taxi_platform_tests.support.sensing import FolderZone, partition_keys, tick

# What every landing zone does is tested over a folder and a bucket alike in test_landing_zones.py.


def test_a_link_out_of_the_landing_folder_is_skipped_with_a_log_line(landing_folder: FolderZone, tmp_path: Path, capfd):
    """A link may point anywhere: a file whose real place is outside the folder is not a landed file."""
    escaped = tmp_path / "elsewhere" / "green_tripdata_2021-04.csv.gz"
    escaped.parent.mkdir()
    shutil.copyfile(GREEN_CSV, escaped)
    (landing_folder.root / "green/green_tripdata_2021-05.csv.gz").symlink_to(escaped)

    capfd.readouterr()
    requests, cursor = tick(landing_folder.zone, None)
    assert requests == []
    skipped = [line for line in capfd.readouterr().err.splitlines() if "Skipping" in line]
    assert len(skipped) == 1, skipped
    assert escaped.as_uri() in skipped[0] and "outside the landing folder" in skipped[0], skipped

    assert tick(landing_folder.zone, cursor)[0] == []
    assert "Skipping" not in capfd.readouterr().err, "skipped files are logged once"


def test_source_sensor_heads_missing_months_in_turn_and_requests_the_published(mirror, tmp_path: Path):
    materialized = key("yellow", "2021-01")
    published = {key("green", "2021-01"), materialized, *(key("green", month) for month in MOVED_GREEN_MONTHS)}
    order = trip_months()
    missing = len(order) - 1  # yellow 2021-01 is materialized below
    with instance_for_test(temp_dir=str(tmp_path)) as instance:
        instance.report_runless_asset_event(AssetMaterialization("raw_trips", partition=materialized))
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
    assert sorted(partition_keys(requested)) == sorted(published - {materialized})
    assert source_months_sensor.job_name == "trip_chain"
    assert all(request.run_key.startswith(f"{request.partition_key}@") for request in requested)
