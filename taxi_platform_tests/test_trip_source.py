"""TripSource: the release and the TLC feed, looked in with HEAD requests in the configured order, over real bases.

HTTP is the loopback mirror (both layouts under one root), `file://` its folder, `gs://` the GCS emulator.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from dagster import Failure, materialize

from taxi_platform.assets import raw_trips
from taxi_platform.partitions import partition_key
from taxi_platform.resources import DownloadFailed, LocalLake, MonthNotPublished, TripSource
from taxi_platform.tlc import TripMonth
from taxi_platform_tests.support.data import GREEN_PARQUET
from taxi_platform_tests.support.mirror import MirrorServer, Scripted

RELEASE_MONTH = TripMonth.parse("green", "2021-01")  # in the release only (the mirror's feed lacks it)
FEED_MONTH = TripMonth.parse("green", "2024-01")  # in the feed only (the release stops at 2021-07)
MISSING_MONTH = TripMonth.parse("green", "2019-02")  # in neither
RELEASE_FILE = "green/green_tripdata_2021-01.csv.gz"
FEED_FILE = "trip-data/green_tripdata_2024-01.parquet"


def source(url: str, **settings) -> TripSource:
    """Both sources at one mirror, quick retries."""
    return TripSource(base_url=url, tlc_url=url, backoff_seconds=0.05, **settings)


def test_each_month_comes_from_the_first_source_that_publishes_it(mirror: MirrorServer):
    released = source(mirror.url).locate(RELEASE_MONTH)
    assert (released.source, released.format, released.url) == ("release", "csv.gz", f"{mirror.url}/{RELEASE_FILE}")
    assert mirror.head_requests == [f"/{RELEASE_FILE}"], "the feed is not asked for a month the release has"

    mirror.reset()
    fed = source(mirror.url).locate(FEED_MONTH)
    assert (fed.source, fed.format, fed.url) == ("tlc", "parquet", f"{mirror.url}/{FEED_FILE}")
    assert fed.size == GREEN_PARQUET.stat().st_size
    assert mirror.head_requests == ["/green/green_tripdata_2024-01.csv.gz", f"/{FEED_FILE}"]
    assert mirror.requests == [], "locating downloads nothing"


@pytest.mark.parametrize(
    ("sources", "month", "expected"),
    [
        ("release,tlc", RELEASE_MONTH, "release"),
        ("tlc,release", RELEASE_MONTH, "tlc"),  # both have it: the first listed wins
        ("tlc,release", FEED_MONTH, "tlc"),
        ("tlc", RELEASE_MONTH, "tlc"),
        ("tlc", TripMonth.parse("yellow", "2021-01"), None),  # the release has it, but is turned off
        ("release", FEED_MONTH, None),  # the feed has it, but is turned off
        ("release", TripMonth.parse("yellow", "2021-01"), "release"),
    ],
)
def test_the_sources_are_tried_in_the_configured_order_and_can_be_turned_off(
    own_mirror: MirrorServer, sources, month, expected
):
    shutil.copyfile(GREEN_PARQUET, own_mirror.root / "trip-data/green_tripdata_2021-01.parquet")  # both have 2021-01
    trip_source = source(own_mirror.url, sources=sources)
    paths = {
        "release": f"/{month.color}/{month.published_name('csv.gz')}",
        "tlc": f"/trip-data/{month.published_name('parquet')}",
    }
    listed = sources.split(",")
    if expected is None:
        with pytest.raises(MonthNotPublished) as failure:
            trip_source.locate(month)
        tried = ", ".join(f"{own_mirror.url}{paths[name]}" for name in listed)
        assert str(failure.value) == f"{month.label}: not published by any source (tried: {tried})"
        assert own_mirror.head_requests == [paths[name] for name in listed]
    else:
        assert trip_source.locate(month).source == expected
        assert own_mirror.head_requests == [paths[name] for name in listed[: listed.index(expected) + 1]]
    assert own_mirror.requests == []


def test_not_published_is_said_at_once_and_nothing_is_downloaded(mirror: MirrorServer, tmp_path: Path):
    trip_source = TripSource(base_url=mirror.url, tlc_url=mirror.url, backoff_seconds=30)  # a retry would show
    started = time.monotonic()
    with pytest.raises(MonthNotPublished) as failure:
        trip_source.fetch(trip_source.locate(MISSING_MONTH), tmp_path / "never")
    assert time.monotonic() - started < 5, "a 404 is an answer, not a failure to retry"
    assert str(failure.value) == (
        f"green 2019-02: not published by any source (tried: {mirror.url}/green/green_tripdata_2019-02.csv.gz, "
        f"{mirror.url}/trip-data/green_tripdata_2019-02.parquet)"
    )
    assert mirror.head_requests == ["/green/green_tripdata_2019-02.csv.gz", "/trip-data/green_tripdata_2019-02.parquet"]
    assert mirror.requests == []
    assert not (tmp_path / "never").exists()
    assert trip_source.probe(MISSING_MONTH) is None


def test_a_forbidden_month_of_the_feed_is_not_published(mirror: MirrorServer, tmp_path: Path):
    """The TLC's CloudFront answers 403 (not 404) for a month it has not published yet."""
    month = TripMonth.parse("yellow", "2024-01")
    feed_file = f"trip-data/{month.published_name('parquet')}"
    mirror.script(feed_file, Scripted(403, b"<Error><Code>AccessDenied</Code></Error>"), method="HEAD")
    with pytest.raises(MonthNotPublished, match=r"^yellow 2024-01: not published by any source \(tried: .*\.parquet\)"):
        source(mirror.url).locate(month)
    assert mirror.head_requests.count(f"/{feed_file}") == 1, "a 403 is an answer, not a failure to retry"
    assert mirror.requests == []


@pytest.mark.parametrize(
    "answer",
    [
        Scripted(503, b"busy"),
        Scripted(500, b"oops"),
        Scripted(429, b"slow down"),
        Scripted(408),
        Scripted(200, delay=2.0),  # past the time-out
        Scripted(200, drop=True),  # the connection closes without an answer
    ],
    ids=["503", "500", "429", "408", "time-out", "dropped"],
)
def test_a_transient_head_failure_is_retried_before_moving_on(mirror: MirrorServer, tmp_path: Path, answer):
    mirror.script(f"trip-data/{FEED_MONTH.published_name('parquet')}", answer, method="HEAD")
    trip_source = source(mirror.url, timeout_seconds=0.5)
    fetched = trip_source.fetch(trip_source.locate(FEED_MONTH), tmp_path / "month.parquet")
    assert fetched.source == "tlc" and fetched.bytes == GREEN_PARQUET.stat().st_size
    assert mirror.head_requests.count(f"/{FEED_FILE}") == 2, "one failed HEAD, one retry"


def test_a_source_that_keeps_failing_is_not_skipped(mirror: MirrorServer, data_dir: Path):
    """The release is down, not missing the month: taking the feed's copy would hide it, so the run fails."""
    release_copy = "green/green_tripdata_2024-01.csv.gz"
    mirror.script(release_copy, *[Scripted(500, b"oops")] * 5, method="HEAD")
    with pytest.raises(
        DownloadFailed, match=rf"^green 2024-01: {mirror.url}/{release_copy} failed 5 times, last: HEAD: HTTP 500"
    ):
        source(mirror.url).locate(FEED_MONTH)
    assert mirror.head_requests == [f"/{release_copy}"] * 5
    assert mirror.requests == []

    mirror.reset()
    mirror.script(release_copy, *[Scripted(502, b"bad gateway")] * 5, method="HEAD")
    with pytest.raises(Failure) as failure:
        materialize(
            [raw_trips],
            resources={"trip_source": source(mirror.url), "lake": LocalLake(root=str(data_dir))},
            partition_key=partition_key(FEED_MONTH),
        )
    first_line = failure.value.description.splitlines()[0]
    assert first_line.startswith(f"green 2024-01: {mirror.url}/{release_copy} failed 5 times, last: HEAD: HTTP 502"), (
        first_line
    )
    assert f"/{FEED_FILE}" not in mirror.head_requests
    assert not data_dir.joinpath("raw").exists()


def test_redirects_are_followed(mirror: MirrorServer, mirror_root: Path, tmp_path: Path):
    """Release assets on GitHub answer with a redirect to their storage, for HEAD and GET alike."""
    moved = f"moved/{RELEASE_FILE}"
    for method in ("HEAD", "GET"):
        mirror.script(moved, Scripted(302, headers={"Location": f"{mirror.url}/{RELEASE_FILE}"}), method=method)
    trip_source = TripSource(base_url=f"{mirror.url}/moved", tlc_url=mirror.url, sources="release")
    fetched = trip_source.fetch(trip_source.locate(RELEASE_MONTH), tmp_path / "month.csv.gz")
    assert (tmp_path / "month.csv.gz").read_bytes() == (mirror_root / RELEASE_FILE).read_bytes()
    assert fetched.url == f"{mirror.url}/{moved}"
    assert mirror.head_requests == [f"/{moved}", f"/{RELEASE_FILE}"], "a redirected HEAD stays a HEAD"
    assert mirror.requests == [f"/{moved}", f"/{RELEASE_FILE}"], "one download, redirected"


@pytest.fixture(params=["http", "file", "gs"])
def base(request: pytest.FixtureRequest, mirror_root: Path) -> tuple[str, dict[str, str]]:
    """A base serving both layouts, and the TripSource settings it needs."""
    if request.param == "http":
        return request.getfixturevalue("mirror").url, {}
    if request.param == "file":
        return mirror_root.as_uri(), {}
    from taxi_platform_tests.support.emulators import unique_name

    gcs = request.getfixturevalue("gcs_emulator")
    bucket = gcs.client().bucket(gcs.create_bucket(unique_name("sources")))
    for path in mirror_root.rglob("*"):
        if path.is_file():
            bucket.blob(f"copy/{path.relative_to(mirror_root).as_posix()}").upload_from_filename(str(path))
    return f"gs://{bucket.name}/copy", {"gcs_endpoint": gcs.endpoint}


def test_every_kind_of_base_serves_both_layouts(base: tuple[str, dict[str, str]], mirror_root: Path, tmp_path: Path):
    url, settings = base
    trip_source = source(url, **settings)
    for month, published, file in ((RELEASE_MONTH, "release", RELEASE_FILE), (FEED_MONTH, "tlc", FEED_FILE)):
        target = tmp_path / month.published_name("parquet" if published == "tlc" else "csv.gz")
        fetched = trip_source.fetch(trip_source.locate(month), target)
        assert (fetched.source, fetched.url) == (published, f"{url}/{file}")
        assert target.read_bytes() == (mirror_root / file).read_bytes()
    assert trip_source.probe(MISSING_MONTH) is None
    with pytest.raises(
        MonthNotPublished, match=rf"\(tried: {url}/green/green_tripdata_2019-02.csv.gz, {url}/trip-data"
    ):
        trip_source.locate(MISSING_MONTH)
