"""The sensors, ticked with `build_sensor_context` over a real landing folder and the loopback mirror."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

from dagster import AssetMaterialization, build_sensor_context, instance_for_test

from taxi_platform.assets import raw_trips
from taxi_platform.partitions import partition_key, trip_months
from taxi_platform.resources import TripSource
from taxi_platform.sensors import landing_files_sensor, source_months_sensor
from taxi_platform.sensors.source import PROBES_PER_TICK
from taxi_platform.sensors.zones import retry_wait
from taxi_platform.tlc import TripMonth
from taxi_platform_tests.support.data import GREEN_CSV, GREEN_PARQUET, MOVED_GREEN_MONTHS
from taxi_platform_tests.support.keys import key
from taxi_platform_tests.support.mirror import MirrorServer, Scripted
from taxi_platform_tests.support.sensing import FolderZone, instance_with_zones, partition_keys, tick

# What every landing zone does is tested over a folder and a bucket alike in test_landing_zones.py.

FEED_ONLY = TripMonth.parse("green", "2024-01")  # the mirror's feed publishes it, the release does not


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


def sweep(instance, trip_source: TripSource, cursor: str | None, mirror: MirrorServer) -> tuple[list, str | None, list]:
    """Tick `source_months_sensor` until every missing month was probed once: (requests, cursor, months per tick)."""
    missing = len(trip_months()) - len(instance.get_materialized_partitions(raw_trips.key))
    requested, months_per_tick = [], []
    for _ in range(math.ceil(missing / PROBES_PER_TICK)):
        heads_before = len(mirror.head_requests)
        context = build_sensor_context(instance=instance, cursor=cursor, resources={"trip_source": trip_source})
        result = source_months_sensor(context)
        months_per_tick.append(len({Path(path).name.split(".")[0] for path in mirror.head_requests[heads_before:]}))
        requested += list(result.run_requests or [])
        cursor = result.cursor
    return requested, cursor, months_per_tick


def test_source_sensor_heads_missing_months_in_each_source_and_requests_the_published(mirror, tmp_path: Path):
    materialized = key("yellow", "2021-01")
    released = {key("green", "2021-01"), materialized, *(key("green", month) for month in MOVED_GREEN_MONTHS)}
    fed = {key("green", "2024-01")}  # only the TLC's feed publishes it
    with instance_with_zones(tmp_path) as instance:
        instance.report_runless_asset_event(AssetMaterialization("raw_trips", partition=materialized))
        requested, _, months_per_tick = sweep(
            instance, TripSource(base_url=mirror.url, tlc_url=mirror.url), None, mirror
        )

    assert max(months_per_tick) == PROBES_PER_TICK, months_per_tick
    missing = len(trip_months()) - 1
    assert len(set(mirror.head_requests)) == len(mirror.head_requests), "each source asked once per month"
    release_heads = [path for path in mirror.head_requests if path.endswith(".csv.gz")]
    feed_heads = [path for path in mirror.head_requests if path.endswith(".parquet")]
    assert len(release_heads) == missing, "the release first, for every missing month"
    assert len(feed_heads) == missing - len(released - {materialized}), "the feed for the months the release lacks"
    assert mirror.requests == [], "probing downloads nothing"
    assert sorted(partition_keys(requested)) == sorted((released | fed) - {materialized})
    assert {request.job_name for request in requested} == {"trip_chain"}
    sources = {str(request.partition_key): request.run_key.split("@")[1].split(":")[0] for request in requested}
    assert sources == {**{k: "release" for k in released - {materialized}}, **{k: "tlc" for k in fed}}


def test_a_month_the_tlc_publishes_becomes_one_run_without_a_click(own_mirror: MirrorServer, tmp_path: Path):
    new = key("green", "2025-03")
    trip_source = TripSource(base_url=own_mirror.url, tlc_url=own_mirror.url)
    with instance_with_zones(tmp_path) as instance:
        before, cursor, _ = sweep(instance, trip_source, None, own_mirror)
        assert new not in partition_keys(before)

        shutil.copyfile(GREEN_PARQUET, own_mirror.root / "trip-data/green_tripdata_2025-03.parquet")  # published
        after, cursor, _ = sweep(instance, trip_source, cursor, own_mirror)
        again, _, _ = sweep(instance, trip_source, cursor, own_mirror)  # not materialized yet: asked for again

    [first] = [request for request in after if request.partition_key == new]
    assert [request.run_key for request in again if request.partition_key == new] == [first.run_key], (
        "the same file is the same run key: the daemon launches one run"
    )
    assert first.run_key.startswith(f"{new}@tlc:")
    assert first.tags["taxi_platform/source_file"] == f"{own_mirror.url}/trip-data/green_tripdata_2025-03.parquet"
    assert sorted(partition_keys(after)) == sorted([*partition_keys(before), new])
    assert own_mirror.requests == [], "the mirror saw HEAD requests only"
    assert len(own_mirror.head_requests) > 0


def test_a_source_that_fails_ends_the_tick_and_the_month_is_asked_again_in_turn(
    own_mirror: MirrorServer, tmp_path: Path
):
    """A failing source is not a month that is missing: the month is neither dropped nor retried within the tick."""
    newest = trip_months()[0]
    release_copy = f"{newest.color}/{newest.published_name('csv.gz')}"
    own_mirror.script(release_copy, Scripted(503, b"busy"), method="HEAD")
    trip_source = TripSource(base_url=own_mirror.url, tlc_url=own_mirror.url, backoff_seconds=30)
    shutil.copyfile(GREEN_PARQUET, own_mirror.root / f"trip-data/{newest.published_name('parquet')}")
    with instance_with_zones(tmp_path) as instance:
        context = build_sensor_context(instance=instance, resources={"trip_source": trip_source})
        failed = source_months_sensor(context)
        assert not failed.run_requests
        assert own_mirror.head_requests == [f"/{release_copy}"], "no retry within the tick, nothing else probed"
        rest, cursor, _ = sweep(instance, trip_source, failed.cursor, own_mirror)  # the older months go on
        assert str(partition_key(newest)) not in partition_keys(rest)
        round_again, _, _ = sweep(instance, trip_source, cursor, own_mirror)
    assert str(partition_key(newest)) in partition_keys(round_again), "probed again when its turn came round"
    assert str(partition_key(FEED_ONLY)) in partition_keys(rest), "one failing file does not stall the others"


def test_a_new_instance_gets_the_zone_lookup_before_any_month(
    mirror: MirrorServer, landing_folder: FolderZone, tmp_path
):
    """Both sensors ask for one taxi_zones run first and hold the months (and their cursor) until it is there."""
    landing_folder.drop("green/green_tripdata_2021-02.csv.gz")
    trip_source = TripSource(base_url=mirror.url, tlc_url=mirror.url)
    with instance_for_test(temp_dir=str(tmp_path)) as instance:
        for sensor, resources in (
            (source_months_sensor, {"trip_source": trip_source}),
            (landing_files_sensor, {"landing": landing_folder.zone}),
        ):
            with build_sensor_context(instance=instance, resources=resources) as context:
                first = sensor(context)
            assert [request.job_name for request in first.run_requests] == ["taxi_zones_job"], sensor.name
            assert first.cursor is None, "no month is passed over while the lookup is missing"
        assert mirror.head_requests == [], "no month probed before the lookup"

        run = instance.create_run_for_job(taxi_zones_job_def(), run_id=None)  # a zones run on its way
        with build_sensor_context(instance=instance, resources={"trip_source": trip_source}) as context:
            waiting = source_months_sensor(context)
        assert not waiting.run_requests and run.run_id in waiting.skip_reason.skip_message

        instance.report_runless_asset_event(AssetMaterialization("taxi_zones"))
        with build_sensor_context(instance=instance, resources={"landing": landing_folder.zone}) as context:
            months = landing_files_sensor(context)
        assert [(r.job_name, str(r.partition_key)) for r in months.run_requests] == [
            ("trip_chain", key("green", "2021-02"))
        ]


def test_a_failed_zones_run_is_asked_for_again_only_after_a_backoff(mirror: MirrorServer, tmp_path):
    """A zone lookup that fails is not requested every tick: the sensor names the failed run and waits."""
    trip_source = TripSource(base_url=mirror.url, tlc_url=mirror.url)
    with instance_for_test(temp_dir=str(tmp_path)) as instance:
        run = instance.create_run_for_job(taxi_zones_job_def(), run_id=None)
        instance.report_run_failed(run)
        with build_sensor_context(instance=instance, resources={"trip_source": trip_source}) as context:
            waiting = source_months_sensor(context)
        assert not waiting.run_requests, "the failed lookup is not asked for again at once"
        assert run.run_id in waiting.skip_reason.skip_message and "asking again in" in waiting.skip_reason.skip_message
        assert mirror.head_requests == [], "no month probed before the lookup"

    assert [retry_wait(n) for n in range(0, 9)] == [0, 60, 120, 240, 480, 960, 1920, 3600, 3600]


def taxi_zones_job_def():
    from taxi_platform.definitions import defs

    return defs.resolve_job_def("taxi_zones_job")
