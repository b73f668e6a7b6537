"""The lake on GCS (the gcp profile's): against the GCS emulator with the real client library.

What a partition holds changes in one object write, a download is streamed into the lake and
verified, a version stops being read only after its grace period, and the audits read the
version's parquet where it is (pyarrow's GCS filesystem on the same endpoint).
"""

from __future__ import annotations

import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from taxi_platform.resources.gcp.clients import GcsClient
from taxi_platform.resources.gcp.lake import GcsLake, LakeNotWritable
from taxi_platform.resources.sources import TripSource
from taxi_platform.tlc import TripMonth, inspect_trip_file
from taxi_platform_tests.support.data import GREEN_CSV
from taxi_platform_tests.support.emulators import unique_name

MONTH = TripMonth.parse("green", "2021-01")


@pytest.fixture
def lake(gcs_emulator) -> GcsLake:
    bucket = gcs_emulator.create_bucket(unique_name("lake"))
    return GcsLake(gcs=GcsClient(project="test", endpoint=gcs_emulator.endpoint), bucket=bucket, grace_seconds=3600)


def names(lake: GcsLake, prefix: str = "lake") -> list[str]:
    client = lake.gcs.get_client()
    return sorted(blob.name for blob in client.list_blobs(lake.bucket, prefix=f"{prefix}/"))


def write_version(lake: GcsLake, rows: int) -> str:
    """A typed partition's version of `rows` rows, published; its location."""
    bucket = lake.gcs.get_client().bucket(lake.bucket)
    with lake.replace_directory(MONTH.typed_path) as version:
        path = version.removeprefix(f"gs://{lake.bucket}/")
        buffer = io.BytesIO()
        pq.write_table(pa.table({"trip": list(range(rows))}), buffer)
        bucket.blob(f"{path}/part-0.parquet").upload_from_string(buffer.getvalue())
        bucket.blob(f"{path}/_SUCCESS").upload_from_string(b"")
        lake.keep_record(version, {"rows": rows})
    return version


def test_a_download_is_streamed_into_the_lake_with_its_record_and_nothing_left_in_staging(lake, mirror, tmp_path):
    source = TripSource(base_url=mirror.url, tlc_url=mirror.url, backoff_seconds=0.05)
    published = source.locate(MONTH)
    target = MONTH.raw_path_of(published.format)
    with lake.replace_file(target) as download:
        fetched = source.fetch(published, download)
        assert fetched is not None
        facts = inspect_trip_file(download.open_read, MONTH.color, name=fetched.url)  # read from GCS, not a disk
        lake.keep_record(download, {"sha256": fetched.sha256, "rows": facts.rows})

    assert names(lake) == [f"lake/{target}"], "the file at its zone path, no staged upload left"
    assert lake.uri(target) == f"gs://{lake.bucket}/lake/{target}"
    assert lake.record(target) == {"sha256": fetched.sha256, "rows": facts.rows}
    assert facts.rows == inspect_trip_file(GREEN_CSV, MONTH.color).rows
    with lake.opener(target)() as stored:
        assert stored.read() == GREEN_CSV.read_bytes(), "the bytes the source served"
    assert lake.first_file(MONTH.raw_paths) == target


def test_a_failed_check_leaves_the_held_file_and_removes_the_upload(lake):
    target = MONTH.raw_path_of("csv.gz")
    with lake.replace_file(target) as download:
        with download.open_write() as out:
            out.write(b"first")
        lake.keep_record(download, {"n": 1})
    with pytest.raises(ValueError, match="bad file"), lake.replace_file(target) as download:
        with download.open_write() as out:
            out.write(b"second")
        raise ValueError("bad file")
    assert names(lake) == [f"lake/{target}"]
    with lake.opener(target)() as stored:
        assert stored.read() == b"first"
    assert lake.record(target) == {"n": 1}


def test_a_partition_changes_in_one_step_and_an_old_version_goes_after_its_grace_period(lake):
    assert not lake.is_finished(MONTH.typed_path)
    first = write_version(lake, 3)
    assert lake.is_finished(MONTH.typed_path) and lake.uri(MONTH.typed_path) == first
    assert lake.record(MONTH.typed_path) == {"rows": 3}
    files = lake.parquet_files(lake.uri(MONTH.typed_path))
    assert files.rows() == 3 and files.table().column("trip").to_pylist() == [0, 1, 2]
    assert lake.describe(MONTH.typed_path).files == 1

    second = write_version(lake, 5)
    assert lake.uri(MONTH.typed_path) == second and lake.record(MONTH.typed_path) == {"rows": 5}
    first_path = first.removeprefix(f"gs://{lake.bucket}/")
    assert f"{first_path}/part-0.parquet" in names(lake), "within its grace period a reader of it still finds it"
    assert f"{first_path}.superseded" in names(lake)

    # A failed write publishes nothing and leaves nothing of its own.
    with pytest.raises(RuntimeError, match="audit"), lake.replace_directory(MONTH.typed_path) as version:
        lake.gcs.get_client().bucket(lake.bucket).blob(
            f"{version.removeprefix(f'gs://{lake.bucket}/')}/part-0.parquet"
        ).upload_from_string(b"x")
        raise RuntimeError("audit failed")
    assert lake.uri(MONTH.typed_path) == second

    # Past the grace period, the next publish removes the superseded version; the current one stays.
    short = lake.model_copy(update={"grace_seconds": 0})
    third = write_version(short, 7)
    left = names(lake, f"lake/_versions/{MONTH.typed_path}")
    assert not [name for name in left if first_path in name] and not [n for n in left if second in f"gs://x/{n}"]
    assert [name for name in left if name.endswith(".parquet")] == [
        f"{third.removeprefix(f'gs://{lake.bucket}/')}/part-0.parquet"
    ]
    pointer = json.loads(
        lake.gcs.get_client().bucket(lake.bucket).blob(f"lake/_current/{MONTH.typed_path}.json").download_as_bytes()
    )
    assert third.endswith(pointer["version"])


def test_a_staging_area_and_the_moves_out_of_it_are_server_side(lake):
    bucket = lake.gcs.get_client().bucket(lake.bucket)
    with lake.staging_area("typed_trips") as area:
        written = f"{area}/output/partition=green-2021-01"
        path = written.removeprefix(f"gs://{lake.bucket}/")
        buffer = io.BytesIO()
        pq.write_table(pa.table({"trip": [1, 2]}), buffer)
        bucket.blob(f"{path}/part-0.parquet").upload_from_string(buffer.getvalue())
        with lake.replace_directory(MONTH.typed_path) as version:
            lake.move_into(written, version)
        assert lake.parquet_files(lake.uri(MONTH.typed_path)).rows() == 2
    assert not names(lake, "lake/_staging"), "the staging area is removed afterwards"


def test_a_lake_whose_bucket_is_missing_fails_naming_the_bucket_and_prefix(gcs_emulator):
    lake = GcsLake(
        gcs=GcsClient(project="test", endpoint=gcs_emulator.endpoint),
        bucket="unused",
        lake_uri="gs://no-such-bucket-here/team/lake",
    )
    named = r"gs://no-such-bucket-here/team/lake.*bucket no-such-bucket-here, prefix team/lake"
    with (
        pytest.raises(LakeNotWritable, match=named),
        lake.replace_file(MONTH.raw_path_of("csv.gz")) as download,
        download.open_write() as out,
    ):
        out.write(b"x")
