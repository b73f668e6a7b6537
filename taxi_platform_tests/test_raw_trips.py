"""raw_trips: streamed download from a real loopback server, checks, atomic replace."""

from __future__ import annotations

import gzip
import hashlib
import logging
import shutil
from pathlib import Path

import pytest
from dagster import DagsterInstance, Failure, materialize

from taxi_platform.assets import raw_trips
from taxi_platform.partitions import partition_key
from taxi_platform.resources import DownloadFailed, MonthNotPublished, TripSource
from taxi_platform.tlc import BadTripFile, TripMonth, inspect_trip_file
from taxi_platform_tests.support.data import GREEN_CSV, GREEN_PARQUET
from taxi_platform_tests.support.mirror import MirrorServer, Scripted
from taxi_platform_tests.support.oracle import trips_in
from taxi_platform_tests.support.processes import free_port
from taxi_platform_tests.support.resources import local_platform

GREEN = TripMonth.parse("green", "2021-01")
YELLOW = TripMonth.parse("yellow", "2021-01")
GREEN_REMOTE = "green/green_tripdata_2021-01.csv.gz"
FEED_MONTH = TripMonth.parse("green", "2024-01")  # the release stops at 2021-07; the TLC's feed has it


def run_raw(resources: dict, month: TripMonth, raise_on_error: bool = True):
    return materialize(
        [raw_trips],
        resources={k: resources[k] for k in ("trip_source", "lake")},
        partition_key=partition_key(month),
        raise_on_error=raise_on_error,
    )


def raw_file(data_dir: Path, month: TripMonth) -> Path:
    return data_dir / month.raw_path


def test_downloads_the_month_byte_for_byte(resources, data_dir, mirror_root):
    result = run_raw(resources, GREEN)
    target = raw_file(data_dir, GREEN)
    assert target == data_dir / "raw/green/2021/01/green_tripdata_2021_01.csv.gz"
    source = (mirror_root / GREEN_REMOTE).read_bytes()
    assert target.read_bytes() == source
    metadata = result.asset_materializations_for_node("raw_trips")[0].metadata
    with gzip.open(target, "rt", newline="") as stream:
        data_lines = sum(1 for _ in stream) - 1
    assert metadata["dagster/row_count"].value == data_lines == trips_in(GREEN_CSV)
    assert metadata["sha256"].value == hashlib.sha256(source).hexdigest()
    assert metadata["bytes"].value == len(source)
    assert [c.name for c in metadata["dagster/column_schema"].schema.columns][:3] == [
        "VendorID",
        "lpep_pickup_datetime",
        "lpep_dropoff_datetime",
    ]
    assert not [p for p in target.parent.iterdir() if p != target], "no temporary files left behind"


def test_file_base_url_works(resources, data_dir, mirror_root):
    resources["trip_source"] = TripSource(base_url=mirror_root.as_uri(), tlc_url=mirror_root.as_uri())
    run_raw(resources, YELLOW)
    assert (
        raw_file(data_dir, YELLOW).read_bytes() == (mirror_root / "yellow/yellow_tripdata_2021-01.csv.gz").read_bytes()
    )


def test_missing_month_says_not_published(resources, data_dir, mirror: MirrorServer):
    month = TripMonth.parse("green", "2019-02")
    with pytest.raises(Failure) as failure:
        run_raw(resources, month)
    release, feed = (
        f"{mirror.url}/green/green_tripdata_2019-02.csv.gz",
        f"{mirror.url}/trip-data/green_tripdata_2019-02.parquet",
    )
    assert failure.value.description.splitlines()[0] == (
        f"green 2019-02: not published by any source (tried: {release}, {feed})"
    )
    assert isinstance(failure.value.__cause__, MonthNotPublished)
    assert mirror.head_requests == ["/green/green_tripdata_2019-02.csv.gz", "/trip-data/green_tripdata_2019-02.parquet"]
    assert mirror.requests == [], "nothing is downloaded"
    assert not any(data_dir.glob("raw/green/2019/02/*"))


def test_missing_month_over_file_url_says_not_published(resources, mirror_root):
    resources["trip_source"] = TripSource(base_url=mirror_root.as_uri(), tlc_url=mirror_root.as_uri())
    with pytest.raises(Failure, match=r"^yellow 2020-05: not published by any source \(tried: file://") as failure:
        run_raw(resources, TripMonth.parse("yellow", "2020-05"))
    assert isinstance(failure.value.__cause__, MonthNotPublished)


def test_server_errors_are_retried_with_backoff(resources, data_dir, mirror: MirrorServer):
    mirror.script(GREEN_REMOTE, Scripted(503, b"busy"), Scripted(500, b"oops"))
    result = run_raw(resources, GREEN)
    assert mirror.requests.count("/" + GREEN_REMOTE) == 3
    assert result.asset_materializations_for_node("raw_trips")[0].metadata["download_attempts"].value == 3
    assert raw_file(data_dir, GREEN).stat().st_size > 1_000_000


def test_dropped_connection_is_retried(resources, data_dir, mirror: MirrorServer, mirror_root):
    whole = (mirror_root / GREEN_REMOTE).read_bytes()
    mirror.script(GREEN_REMOTE, Scripted(200, whole[:50_000], content_length=len(whole)))
    run_raw(resources, GREEN)
    assert raw_file(data_dir, GREEN).read_bytes() == whole


def test_timeouts_are_retried(resources, data_dir, mirror: MirrorServer):
    resources["trip_source"] = TripSource(
        base_url=mirror.url, tlc_url=mirror.url, timeout_seconds=0.5, backoff_seconds=0.05
    )
    mirror.script(GREEN_REMOTE, Scripted(200, b"late", delay=2.0))
    result = run_raw(resources, GREEN)
    assert result.asset_materializations_for_node("raw_trips")[0].metadata["download_attempts"].value == 2
    assert raw_file(data_dir, GREEN).stat().st_size > 1_000_000


def test_persistent_server_errors_fail_after_all_attempts(resources, data_dir, mirror: MirrorServer):
    mirror.script(GREEN_REMOTE, *[Scripted(502, b"bad gateway")] * 5)
    with pytest.raises(Failure, match=r"^green 2021-01: .*failed 5 times.*502") as failure:
        run_raw(resources, GREEN)
    assert isinstance(failure.value.__cause__, DownloadFailed)
    assert not raw_file(data_dir, GREEN).exists()


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        ("truncated", "gzip is truncated"),
        ("html", "HTML/XML page, not a gzip file"),
        ("other_color", "has the yellow trip header, but this is the green partition"),
        ("cut_rows", "the file is cut off"),
    ],
)
def test_bad_file_fails_clearly_and_keeps_previous_partition(
    resources, data_dir, mirror: MirrorServer, mirror_root, answer, problem
):
    run_raw(resources, GREEN)
    good = raw_file(data_dir, GREEN).read_bytes()
    whole = (mirror_root / GREEN_REMOTE).read_bytes()
    bodies = {
        "truncated": whole[: len(whole) // 2],
        "html": b"<!DOCTYPE html><html><body>Rate limit exceeded</body></html>",
        "other_color": (mirror_root / "yellow/yellow_tripdata_2021-01.csv.gz").read_bytes(),
        "cut_rows": gzip.compress(gzip.decompress(whole)[:-25]),
    }
    mirror.script(GREEN_REMOTE, Scripted(200, bodies[answer]))
    # The source says it republished the month (a new ETag), so the rerun downloads it.
    republished = Scripted(200, content_length=len(bodies[answer]), headers={"ETag": '"republished"'})
    mirror.script(GREEN_REMOTE, republished, method="HEAD")
    with pytest.raises(Failure) as failure:
        run_raw(resources, GREEN)
    assert isinstance(failure.value.__cause__, BadTripFile)
    first_line = failure.value.description.splitlines()[0]
    assert first_line.startswith("green 2021-01: "), "the error names the partition"
    assert problem in first_line
    assert GREEN_REMOTE.split("/")[1] in first_line, "the error names the file"
    assert raw_file(data_dir, GREEN).read_bytes() == good, "the previous good partition is untouched"
    assert sorted(p.name for p in raw_file(data_dir, GREEN).parent.iterdir()) == [GREEN.local_name]


def test_a_missing_required_column_names_the_file_and_the_column(tmp_path):
    lines = gzip.decompress(GREEN_CSV.read_bytes()).split(b"\n")
    header = lines[0].split(b",")
    at = header.index(b"PULocationID")
    cut = [b",".join(part for i, part in enumerate(line.split(b",")) if i != at) for line in lines]
    path = tmp_path / "green_tripdata_2021_01.csv.gz"
    path.write_bytes(gzip.compress(b"\n".join(cut)))
    with pytest.raises(
        BadTripFile, match=r"green_tripdata_2021_01.csv.gz: header lacks the green trip columns \['PULocationID'\]"
    ):
        inspect_trip_file(path, "green")


def test_a_month_only_the_feed_publishes_is_taken_from_it_as_parquet(resources, data_dir, mirror: MirrorServer):
    result = run_raw(resources, FEED_MONTH)
    target = data_dir / "raw/green/2024/01/green_tripdata_2024_01.parquet"
    assert target.read_bytes() == GREEN_PARQUET.read_bytes()
    assert list(target.parent.iterdir()) == [target]
    assert mirror.head_requests == ["/green/green_tripdata_2024-01.csv.gz", "/trip-data/green_tripdata_2024-01.parquet"]
    assert mirror.requests == ["/trip-data/green_tripdata_2024-01.parquet"], "one download, from the source that has it"
    metadata = result.asset_materializations_for_node("raw_trips")[0].metadata
    assert metadata["source"].value == "tlc"
    assert metadata["source_url"].value == f"{mirror.url}/trip-data/green_tripdata_2024-01.parquet"
    assert metadata["format"].value == "parquet"
    assert metadata["bytes"].value == GREEN_PARQUET.stat().st_size
    assert metadata["dagster/row_count"].value == trips_in(GREEN_PARQUET)


def test_a_month_republished_in_the_other_format_replaces_the_raw_partition(data_dir, own_mirror: MirrorServer):
    resources = local_platform(data_dir, own_mirror.url)
    folder = data_dir / "raw/green/2021/01"
    release_copy = own_mirror.root / GREEN_REMOTE
    csv = release_copy.read_bytes()
    run_raw(resources, GREEN)
    assert [path.name for path in folder.iterdir()] == ["green_tripdata_2021_01.csv.gz"]

    release_copy.unlink()  # the release withdraws the month; the TLC publishes it
    shutil.copyfile(GREEN_PARQUET, own_mirror.root / "trip-data/green_tripdata_2021-01.parquet")
    result = run_raw(resources, GREEN)
    assert [path.name for path in folder.iterdir()] == ["green_tripdata_2021_01.parquet"], "one file per partition"
    assert (folder / "green_tripdata_2021_01.parquet").read_bytes() == GREEN_PARQUET.read_bytes()
    assert result.asset_materializations_for_node("raw_trips")[0].metadata["format"].value == "parquet"

    release_copy.write_bytes(csv)  # and back: the release has it again, and is looked in first
    run_raw(resources, GREEN)
    assert [path.name for path in folder.iterdir()] == ["green_tripdata_2021_01.csv.gz"]
    assert (folder / "green_tripdata_2021_01.csv.gz").read_bytes() == csv


def test_offline_a_rerun_takes_the_checked_copy_held_and_a_new_month_fails_saying_so(resources, data_dir):
    """No source answers (nothing listens on its port): the month held serves, marked as not checked."""
    first = run_raw(resources, GREEN).asset_materializations_for_node("raw_trips")[0].metadata
    down = f"http://127.0.0.1:{free_port()}"
    offline = {**resources, "trip_source": TripSource(base_url=down, tlc_url=down, backoff_seconds=0.01)}
    instance = DagsterInstance.ephemeral()
    result = materialize([raw_trips], resources={k: offline[k] for k in ("trip_source", "lake")},
                         partition_key=partition_key(GREEN), instance=instance)  # fmt: skip
    metadata = result.asset_materializations_for_node("raw_trips")[0].metadata
    assert metadata["source_checked"].value is False
    assert metadata["sha256"].value == first["sha256"].value == hashlib.sha256(GREEN_CSV.read_bytes()).hexdigest()
    assert metadata["dagster/row_count"].value == trips_in(GREEN_CSV)
    warnings = [e.user_message for e in instance.all_logs(result.run_id) if e.level == logging.WARNING]
    used = [message for message in warnings if message.startswith("green 2021-01: no source could be reached")]
    assert used and down in used[0] and str(raw_file(data_dir, GREEN)) in used[0], warnings
    assert first["source_checked"].value is True, "online, the source was asked"

    never = TripMonth.parse("green", "2021-02")
    with pytest.raises(Failure, match=r"^green 2021-02: .*failed 5 times.*the lake holds no copy .*never downloaded"):
        run_raw(offline, never)
