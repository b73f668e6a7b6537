"""The landing sensor's contract, run over both zones: a local folder and a `gs://` prefix on the GCS emulator.

Each test ticks `landing_files_sensor` with `build_sensor_context`, as the daemon does, over a real zone.
What only one zone has (links out of a folder; folder markers, a missing bucket's wording, gs:// downloads)
is tested beside the zone: test_sensors.py, test_gcs_landing.py.
"""

from __future__ import annotations

import pytest
from dagster import SkipReason, build_sensor_context, materialize

from taxi_platform.assets import raw_trips
from taxi_platform.resources import LocalLake, TripSource
from taxi_platform.sensors import landing_files_sensor
from taxi_platform.sensors.landing import LANDED_FILE_TAG, LandingCursor
from taxi_platform.tlc import TripMonth
from taxi_platform_tests.support.data import GREEN_PARQUET
from taxi_platform_tests.support.keys import key
from taxi_platform_tests.support.sensing import ZoneUnderTest, instance_with_zones, partition_keys, tick

# Names that are not a month of the partitions, each with the reason the warning gives.
BAD_NAMES = {
    "green/green_tripdata_2021-4.csv.gz": "name is not",
    "green/green_tripdata_2021-04.csv": "name is not",
    "green/green_tripdata_2021-04.parq": "name is not {color}_tripdata_{YYYY}-{MM}.csv.gz or .parquet",
    "green/green_tripdata_2021-04.parquet.gz": "name is not",
    "green/notes.txt": "name is not",
    "green/purple_tripdata_2021-04.csv.gz": "name is not",
    "green/green_tripdata_2021-13.csv.gz": "name is not",
    "green/green_tripdata_2018-12.csv.gz": "not a month of the partitions",
    "green/green_tripdata_2999-01.csv.gz": "not a month of the partitions",
    "yellow/green_tripdata_2021-04.csv.gz": "belongs in the green/ folder",
    "green_tripdata_2021-04.csv.gz": "belongs in the green/ folder",
}
# Uploads in progress by convention: never listed, so neither requested nor warned about.
HIDDEN_NAMES = ("green/.green_tripdata_2021-04.csv.gz.part", ".staging/green/green_tripdata_2021-04.csv.gz")


@pytest.fixture(params=["landing_folder", "landing_bucket"], ids=["folder", "bucket"])
def landing(request: pytest.FixtureRequest) -> ZoneUnderTest:
    return request.getfixturevalue(request.param)


def test_new_file_runs_its_partition_once_and_again_when_rewritten(landing: ZoneUnderTest):
    requests, cursor = tick(landing.zone, None)
    assert requests == []

    landed = landing.drop("green/green_tripdata_2021-02.csv.gz")
    requests, cursor = tick(landing.zone, cursor)
    assert partition_keys(requests) == [key("green", "2021-02")]
    request = requests[0]
    assert request.job_name == "trip_chain", "the run goes through all five stages"
    assert request.tags[LANDED_FILE_TAG] == landed
    # The run takes the landed file (through the endpoint the sensor listed), not whatever the sources publish.
    config = request.run_config["resources"]["trip_source"]["config"]
    assert config == landing.source_config("green/green_tripdata_2021-02.csv.gz")
    assert TripSource(**config).candidates(TripMonth.parse("green", "2021-02"))[0].url == landed

    requests, cursor = tick(landing.zone, cursor)
    assert requests == [], "a file already seen is not run again"
    # A daemon restart reads the same cursor string back from the instance's storage.
    again, _ = tick(landing.zone, LandingCursor.parse(cursor).serialize())
    assert again == []

    landing.drop("green/green_tripdata_2021-02.csv.gz")  # written again: a new ctime, a new generation
    rewritten, cursor = tick(landing.zone, cursor)
    assert partition_keys(rewritten) == [key("green", "2021-02")]
    assert rewritten[0].run_key != request.run_key, "a new version is a new run"
    assert tick(landing.zone, cursor)[0] == []


def test_several_files_in_one_tick_each_get_their_partition(landing: ZoneUnderTest):
    for month in ("2021-03", "2021-01"):
        landing.drop(f"green/green_tripdata_{month}.csv.gz")
    landing.drop("yellow/yellow_tripdata_2021-01.csv.gz")
    requests, cursor = tick(landing.zone, None)
    assert sorted(partition_keys(requests)) == sorted(
        [key("green", "2021-01"), key("green", "2021-03"), key("yellow", "2021-01")]
    )
    assert tick(landing.zone, cursor)[0] == []


def test_bad_names_wrong_folders_and_other_months_are_skipped_with_a_warning(landing: ZoneUnderTest, capfd):
    for relative in BAD_NAMES:
        landing.drop(relative)
    for relative in HIDDEN_NAMES:
        landing.put(relative)
    assert {landed.relative for landed in landing.zone.list_files()} == set(BAD_NAMES), "hidden names are not listed"

    capfd.readouterr()
    requests, cursor = tick(landing.zone, None)
    assert requests == []
    skipped = [line for line in capfd.readouterr().err.splitlines() if "Skipping" in line]
    assert len(skipped) == len(BAD_NAMES), skipped
    for relative, reason in BAD_NAMES.items():
        assert any(landing.uri(relative) in line and reason in line for line in skipped), (relative, skipped)

    assert tick(landing.zone, cursor)[0] == []
    assert "Skipping" not in capfd.readouterr().err, "skipped files are logged once"


def test_unfinished_uploads_are_not_seen_and_the_cursor_stays_small(landing: ZoneUnderTest):
    landing.put("green/.green_tripdata_2021-02.csv.gz.part")
    requests, cursor = tick(landing.zone, None)
    assert requests == []
    for year in (2019, 2020):
        for month in range(1, 13):
            landing.drop(f"green/green_tripdata_{year}-{month:02d}.csv.gz")
    requests, cursor = tick(landing.zone, cursor)
    assert len(requests) == 24
    assert len(cursor) < 1000, "the cursor is a high-water mark, not a list of every file seen"
    landing.drop("green/green_tripdata_2021-01.csv.gz")
    requests, _ = tick(landing.zone, cursor)
    assert partition_keys(requests) == [key("green", "2021-01")]


def test_missing_zone_is_a_clear_skip(landing: ZoneUnderTest):
    zone, message = landing.missing()
    with (
        instance_with_zones() as instance,
        build_sensor_context(instance=instance, resources={"landing": zone}) as context,
    ):
        result = landing_files_sensor(context)
    assert isinstance(result, SkipReason)
    assert message in result.skip_message


def test_a_landed_parquet_file_is_the_file_its_run_takes(landing: ZoneUnderTest, tmp_path):
    """The TLC's own file, dropped into the zone: the run copies exactly it, whatever the sources publish."""
    relative = "green/green_tripdata_2024-01.parquet"
    landed = landing.drop(relative, GREEN_PARQUET)
    requests, _ = tick(landing.zone, None)
    assert partition_keys(requests) == [key("green", "2024-01")]
    assert requests[0].run_config["resources"]["trip_source"]["config"] == landing.source_config(relative)

    nowhere = (tmp_path / "no-sources").as_uri()  # neither source has anything: only the landed file can be taken
    data_dir = tmp_path / "data"
    result = materialize(
        [raw_trips],
        resources={
            "trip_source": TripSource(base_url=nowhere, tlc_url=nowhere, backoff_seconds=0.05),
            "lake": LocalLake(root=str(data_dir)),
        },
        partition_key=requests[0].partition_key,
        run_config=requests[0].run_config,
    )
    raw = data_dir / "raw/green/2024/01"
    assert [path.name for path in raw.iterdir()] == ["green_tripdata_2024_01.parquet"]
    assert (raw / "green_tripdata_2024_01.parquet").read_bytes() == GREEN_PARQUET.read_bytes()
    metadata = result.asset_materializations_for_node("raw_trips")[0].metadata
    assert (metadata["source"].value, metadata["format"].value, metadata["source_url"].value) == (
        "landing",
        "parquet",
        landed,
    )
