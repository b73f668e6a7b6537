"""Fixtures: a loopback mirror of the release over the committed TLC files, a Spark session, resources."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from taxi_platform.profile import local_resources
from taxi_platform.resources import TripSource
from taxi_platform_tests.mirror import MirrorServer, build_mirror
from taxi_platform_tests.months import moved_months

DATA = Path(__file__).parent / "data"
GREEN_CSV = DATA / "green_tripdata_2021_01.csv.gz"
YELLOW_CSV = DATA / "yellow_tripdata_2021-01.csv"
# Green months the mirror also serves, made from GREEN_CSV by moving its timestamps (see months.py).
MOVED_GREEN_MONTHS = ("2021-02", "2021-03")
# Tests run many Spark sessions one after another: no UI ports to fight over.
TEST_SPARK_CONFIG = {"spark.ui.enabled": "false", "spark.driver.memory": "2g"}

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)


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
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def resources(data_dir: Path, mirror: MirrorServer) -> dict:
    resources = local_resources(data_dir, source_url=mirror.url, spark_config=TEST_SPARK_CONFIG)
    resources["trip_source"] = TripSource(base_url=mirror.url, backoff_seconds=0.05)
    return resources


@pytest.fixture
def spark():
    """The process's Spark session (started once, reused by the runs of later tests)."""
    from pyspark.sql import SparkSession

    from taxi_platform.resources import SparkResource

    return SparkSession.getActiveSession() or SparkResource(spark_config=TEST_SPARK_CONFIG).spark_session


@pytest.fixture
def standalone_cluster():
    """A real Spark standalone master and worker on 127.0.0.1 (standalone.py), stopped after the test."""
    from taxi_platform_tests.standalone import StandaloneCluster

    cluster = StandaloneCluster().start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def gcs_emulator(tmp_path_factory: pytest.TempPathFactory):
    """gcp-storage-emulator in a subprocess (Spark's JVM reaches it too), in memory.

    Objects are also written to `gcs_emulator.mirror_dir/bucket/name`, which the BigQuery emulator
    reads for `gs://` load URIs. Use your own bucket names: the emulator is shared by the session.
    """
    from taxi_platform_tests.emulators import GcsEmulator

    emulator = GcsEmulator(mirror_dir=tmp_path_factory.mktemp("gcs-mirror")).start()
    yield emulator
    emulator.stop()


@pytest.fixture(scope="session")
def bigquery_emulator(gcs_emulator):
    """bqemulator from `.venv-bqemulator` (scripts/setup makes it); `gs://` loads read the GCS emulator's objects."""
    from taxi_platform_tests.emulators import BigQueryEmulator, EmulatorError

    emulator = BigQueryEmulator(gcs_local_root=gcs_emulator.mirror_dir)
    try:
        emulator.check_installed()
    except EmulatorError as err:
        pytest.fail(str(err), pytrace=False)
    emulator.start()
    yield emulator
    emulator.stop()
