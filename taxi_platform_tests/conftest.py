"""Fixtures only: no network beyond loopback, the loopback mirror of both sources, a Spark session, the local
resources, a standalone cluster, the GCS and BigQuery emulators, landing zones. Constants and helpers live in
`support/`."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from taxi_platform.tlc.months import COLORS
from taxi_platform_tests.support.data import DATA, GREEN_CSV, MOVED_GREEN_MONTHS, TEST_SPARK_CONFIG
from taxi_platform_tests.support.mirror import MirrorServer, build_mirror
from taxi_platform_tests.support.months import moved_months
from taxi_platform_tests.support.network import guard
from taxi_platform_tests.support.resources import local_platform
from taxi_platform_tests.support.sensing import BucketZone, FolderZone

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

# The fast tier (`scripts/test --fast`, `-m "not heavy"`): tests of modules that start no JVM, emulator, browser or
# CLI process of their own; within them, a test that takes one of these fixtures is heavy too.
FAST_MODULES = {
    "test_definitions",
    "test_public_apis",
    "test_raw_trips",
    "test_trip_source",
    "test_sensors",
    "test_landing_zones",
    "test_setup",
}
HEAVY_FIXTURES = {
    "spark",
    "standalone_cluster",
    "gcs_emulator",
    "bigquery_emulator",
    "landing_bucket",
    "dev_server",
    "no_session_in_process",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        uses = set(getattr(item, "fixturenames", ())) | {value for value in params.values() if isinstance(value, str)}
        if item.module.__name__.rsplit(".", 1)[-1] not in FAST_MODULES or uses & HEAVY_FIXTURES:
            item.add_marker(pytest.mark.heavy)


@pytest.fixture(autouse=True)
def _fast_tests_start_no_jvm(request: pytest.FixtureRequest):
    """A test of the fast tier that starts Spark fails, so the tier stays what it says (in the whole suite, a
    session an earlier test left running is not this test's)."""
    if request.node.get_closest_marker("heavy") is not None:
        yield
        return
    from pyspark.sql import SparkSession

    running = SparkSession.getActiveSession() is not None
    yield
    assert running or SparkSession.getActiveSession() is None, f"{request.node.nodeid} starts Spark: not a fast test"


@pytest.fixture(scope="session")
def _loopback_only():
    with guard() as attempts:
        yield attempts


@pytest.fixture(autouse=True)
def no_internet(_loopback_only: list[str]):
    """A test that tries to reach beyond loopback fails, even when the code under test swallowed the error."""
    _loopback_only.clear()
    yield
    if _loopback_only:
        pytest.fail(f"the test tried to reach the internet: {', '.join(_loopback_only)}", pytrace=False)


@pytest.fixture(scope="session")
def mirror_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("mirror")
    build_mirror(DATA, root)
    for month in MOVED_GREEN_MONTHS:
        moved_months(GREEN_CSV, int(month[-2:]) - 1, root / f"green/green_tripdata_{month}.csv.gz")
    return root


@pytest.fixture(scope="session")
def mirror_server(mirror_root: Path):
    server = MirrorServer(mirror_root).start()
    yield server
    server.stop()


@pytest.fixture
def mirror(mirror_server: MirrorServer) -> MirrorServer:
    mirror_server.reset()
    return mirror_server


@pytest.fixture
def own_mirror(tmp_path: Path):
    """A mirror of both sources that only this test sees, so it may publish or withdraw months."""
    root = tmp_path / "own-mirror"
    build_mirror(DATA, root)
    server = MirrorServer(root).start()
    yield server
    server.stop()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def resources(data_dir: Path, mirror: MirrorServer) -> dict:
    return local_platform(data_dir, mirror.url)


@pytest.fixture
def spark():
    """The process's Spark session (started once, reused by the runs of later tests)."""
    from pyspark.sql import SparkSession

    from taxi_platform.resources import SparkResource

    return SparkSession.getActiveSession() or SparkResource(spark_config=TEST_SPARK_CONFIG).spark_session


@pytest.fixture(scope="session")
def standalone_cluster():
    """A real Spark standalone master and worker on 127.0.0.1 (standalone.py), started once and stopped at the end:
    each test judges the applications it started, by their ids or as the latest."""
    from taxi_platform_tests.support.standalone import StandaloneCluster

    cluster = StandaloneCluster().start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def gcs_emulator(tmp_path_factory: pytest.TempPathFactory):
    """gcp-storage-emulator in a subprocess (Spark's JVM reaches it too), in memory.

    Objects are also written to `gcs_emulator.mirror_dir/bucket/name`, which the BigQuery emulator
    reads for `gs://` load URIs. Use your own bucket names: the emulator is shared by the session.
    """
    from taxi_platform_tests.support.emulators import GcsEmulator

    emulator = GcsEmulator(mirror_dir=tmp_path_factory.mktemp("gcs-mirror")).start()
    yield emulator
    emulator.stop()


@pytest.fixture(scope="session")
def bigquery_emulator(gcs_emulator):
    """bqemulator from `.venv-bqemulator` (scripts/setup makes it); `gs://` loads read the GCS emulator's objects."""
    from taxi_platform_tests.support.emulators import BigQueryEmulator, EmulatorError

    emulator = BigQueryEmulator(gcs_local_root=gcs_emulator.mirror_dir)
    try:
        emulator.check_installed()
    except EmulatorError as err:
        pytest.fail(str(err), pytrace=False)
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture
def landing_folder(tmp_path: Path) -> FolderZone:
    """An empty landing folder with its green/ and yellow/ folders, as a user sets one up."""
    root = tmp_path / "landing"
    for color in COLORS:
        (root / color).mkdir(parents=True)
    return FolderZone(root)


@pytest.fixture
def landing_bucket(gcs_emulator) -> BucketZone:
    """A landing zone under `gs://<a new bucket>/incoming/taxi` on the GCS emulator."""
    from taxi_platform.resources.gcp.clients import GcsClient
    from taxi_platform.resources.gcp.landing import GcsLandingZone
    from taxi_platform_tests.support.emulators import unique_name

    bucket = gcs_emulator.create_bucket(unique_name("landing"))
    prefix = "incoming/taxi"
    zone = GcsLandingZone(
        gcs=GcsClient(project="test-project", endpoint=gcs_emulator.endpoint), uri=f"gs://{bucket}/{prefix}"
    )
    return BucketZone(zone, gcs_emulator.client().bucket(bucket), prefix, gcs_emulator.endpoint)
