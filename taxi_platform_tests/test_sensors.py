"""The sensors, ticked with `build_sensor_context` over a real landing folder and the loopback mirror."""

from __future__ import annotations

import shutil
from pathlib import Path

from dagster import AssetMaterialization, build_sensor_context, instance_for_test, materialize

from taxi_platform.assets import raw_trips
from taxi_platform.partitions import RANGE_END, RANGE_START, partition_key, trip_months
from taxi_platform.resources import MonthWatch, TripSource
from taxi_platform.sensors import landing_files_sensor, source_months_sensor
from taxi_platform.sensors.zones import retry_wait
from taxi_platform.tlc import TripMonth
from taxi_platform_tests.support.data import GREEN_CSV, GREEN_PARQUET
from taxi_platform_tests.support.keys import key
from taxi_platform_tests.support.mirror import MirrorServer, Scripted
from taxi_platform_tests.support.sensing import FolderZone, instance_with_zones, tick

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


def sweep(
    instance, trip_source: TripSource, cursor: str | None, mirror: MirrorServer, watch: MonthWatch | None = None
) -> tuple[list, str | None, list]:
    """Tick `source_months_sensor` until it comes round to a month it asked about before (or probes nothing):
    (the requests of those ticks, the cursor, their results)."""
    resources = {"trip_source": trip_source, "month_watch": watch or MonthWatch()}
    requested, results = [], []
    asked: set[str] = set()
    for _ in range(len(trip_months())):
        heads = len(mirror.head_requests)
        with build_sensor_context(instance=instance, cursor=cursor, resources=resources) as context:
            result = source_months_sensor(context)
        now = mirror.head_requests[heads:]
        if not now or asked & set(now):
            results.append(result)
            break
        asked |= set(now)
        results.append(result)
        requested += list(result.run_requests or [])
        cursor = result.cursor
    return requested, cursor, results


def ranges(requests: list) -> list[tuple[str, str]]:
    """The (first, last) keys of each request: a ranged run's tags, or a single partition twice."""
    return [
        (request.tags[RANGE_START], request.tags[RANGE_END])
        if RANGE_START in request.tags
        else (str(request.partition_key), str(request.partition_key))
        for request in requests
    ]


def test_a_new_deployment_asks_for_no_history(mirror, tmp_path: Path):
    """Switched on over an empty instance, the sensor probes nothing and says how to load the history."""
    with instance_with_zones(tmp_path) as instance:
        requested, _, [result] = sweep(instance, TripSource(base_url=mirror.url, tlc_url=mirror.url), None, mirror)
    assert requested == [] and mirror.head_requests == []
    reason = result.skip_reason.skip_message
    assert "not watching green or yellow" in reason and "TAXI_SENSOR_START" in reason and "backfill" in reason


def test_months_after_the_newest_held_go_as_one_ranged_run_per_type(mirror, resources, tmp_path: Path):
    """green 2021-01 held: green 2021-02 and 03 are asked as one range; 2024-01, after a gap, as a run of its own."""
    with instance_with_zones(tmp_path) as instance:
        instance.report_runless_asset_event(AssetMaterialization("raw_trips", partition=key("green", "2021-01")))
        requested, _, _ = sweep(instance, TripSource(base_url=mirror.url, tlc_url=mirror.url), None, mirror)
        assert sorted(ranges(requested)) == [
            (key("green", "2021-02"), key("green", "2021-03")),
            (key("green", "2024-01"), key("green", "2024-01")),
        ]
        assert not [path for path in mirror.head_requests if "2021_01" in path or "2021-01" in path], "held: not asked"
        assert not [path for path in mirror.head_requests if "yellow" in path], "no yellow month held: not watched"
        assert mirror.requests == [], "probing downloads nothing"
        [ranged] = [request for request in requested if RANGE_START in request.tags]
        run = materialize([raw_trips], resources={k: resources[k] for k in ("trip_source", "lake")},
                          instance=instance, tags=ranged.tags)  # fmt: skip
    done = sorted(str(m.partition) for m in run.asset_materializations_for_node("raw_trips"))
    assert done == [key("green", "2021-02"), key("green", "2021-03")], "one run did the range"


def test_a_start_month_watches_every_month_from_it(mirror, tmp_path: Path):
    with instance_with_zones(tmp_path) as instance:
        requested, _, _ = sweep(
            instance, TripSource(base_url=mirror.url, tlc_url=mirror.url), None, mirror, MonthWatch(start="2021-03")
        )
    assert sorted(ranges(requested)) == [
        (key("green", "2021-03"), key("green", "2021-03")),
        (key("green", "2024-01"), key("green", "2024-01")),
    ]
    assert not [path for path in mirror.head_requests if "2021-01" in path or "2021-02" in path], "before the start"
    assert [path for path in mirror.head_requests if "yellow" in path], "every type is watched from the start"


def test_a_month_the_tlc_publishes_becomes_one_run_without_a_click(own_mirror: MirrorServer, tmp_path: Path):
    new = key("green", "2025-03")
    trip_source = TripSource(base_url=own_mirror.url, tlc_url=own_mirror.url)
    with instance_with_zones(tmp_path) as instance:
        instance.report_runless_asset_event(AssetMaterialization("raw_trips", partition=key("green", "2025-02")))
        before, cursor, _ = sweep(instance, trip_source, None, own_mirror)
        assert before == []

        shutil.copyfile(GREEN_PARQUET, own_mirror.root / "trip-data/green_tripdata_2025-03.parquet")  # published
        after, cursor, _ = sweep(instance, trip_source, cursor, own_mirror)
        again, _, _ = sweep(instance, trip_source, cursor, own_mirror)  # not materialized yet: asked for again

    [first] = after
    assert first.partition_key == new
    assert [request.run_key for request in again] == [first.run_key], "the same file, the same run key: one run"
    assert first.run_key.startswith(f"{new}@tlc:")
    assert first.tags["taxi_platform/source_file"] == f"{own_mirror.url}/trip-data/green_tripdata_2025-03.parquet"
    assert own_mirror.requests == [], "the mirror saw HEAD requests only"


def test_a_source_that_fails_ends_the_tick_and_the_month_is_asked_again_in_turn(
    own_mirror: MirrorServer, tmp_path: Path
):
    """A failing source is not a month that is missing: the month is neither dropped nor retried within the tick."""
    month = TripMonth.parse("green", "2025-03")
    release_copy = f"green/{month.published_name('csv.gz')}"
    own_mirror.script(release_copy, Scripted(503, b"busy"), method="HEAD")
    trip_source = TripSource(base_url=own_mirror.url, tlc_url=own_mirror.url, backoff_seconds=30)
    shutil.copyfile(GREEN_PARQUET, own_mirror.root / f"trip-data/{month.published_name('parquet')}")
    resources = {"trip_source": trip_source, "month_watch": MonthWatch()}
    with instance_with_zones(tmp_path) as instance:
        instance.report_runless_asset_event(AssetMaterialization("raw_trips", partition=key("green", "2025-02")))
        with build_sensor_context(instance=instance, resources=resources) as context:
            failed = source_months_sensor(context)
        assert not failed.run_requests
        assert own_mirror.head_requests == [f"/{release_copy}"], "no retry within the tick, nothing else probed"
        cursor, again, ticks = failed.cursor, [], 0
        while not again and ticks < 5:  # the later months, then round again
            with build_sensor_context(instance=instance, cursor=cursor, resources=resources) as context:
                result = source_months_sensor(context)
            again, cursor, ticks = list(result.run_requests or []), result.cursor, ticks + 1
    assert [str(request.partition_key) for request in again] == [str(partition_key(month))]
    assert ticks > 1, "the later months first: the failed one waits for its turn"


def test_a_new_instance_gets_the_zone_lookup_before_any_month(
    mirror: MirrorServer, landing_folder: FolderZone, tmp_path
):
    """Both sensors ask for one taxi_zones run first and hold the months (and their cursor) until it is there."""
    landing_folder.drop("green/green_tripdata_2021-02.csv.gz")
    trip_source = TripSource(base_url=mirror.url, tlc_url=mirror.url)
    with instance_for_test(temp_dir=str(tmp_path)) as instance:
        for sensor, resources in (
            (source_months_sensor, {"trip_source": trip_source, "month_watch": MonthWatch()}),
            (landing_files_sensor, {"landing": landing_folder.zone}),
        ):
            with build_sensor_context(instance=instance, resources=resources) as context:
                first = sensor(context)
            assert [request.job_name for request in first.run_requests] == ["taxi_zones_job"], sensor.name
            assert first.cursor is None, "no month is passed over while the lookup is missing"
        assert mirror.head_requests == [], "no month probed before the lookup"

        run = instance.create_run_for_job(taxi_zones_job_def(), run_id=None)  # a zones run on its way
        with build_sensor_context(
            instance=instance, resources={"trip_source": trip_source, "month_watch": MonthWatch()}
        ) as context:
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
        with build_sensor_context(
            instance=instance, resources={"trip_source": trip_source, "month_watch": MonthWatch()}
        ) as context:
            waiting = source_months_sensor(context)
        assert not waiting.run_requests, "the failed lookup is not asked for again at once"
        assert run.run_id in waiting.skip_reason.skip_message and "asking again in" in waiting.skip_reason.skip_message
        assert mirror.head_requests == [], "no month probed before the lookup"

    assert [retry_wait(n) for n in range(0, 9)] == [0, 60, 120, 240, 480, 960, 1920, 3600, 3600]


def taxi_zones_job_def():
    from taxi_platform.definitions import defs

    return defs.resolve_job_def("taxi_zones_job")
