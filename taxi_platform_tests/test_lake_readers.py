"""What other tools see when they read the lake: every row once, whatever the platform was doing.

The course's notebooks (`spark.read.parquet('data/pq/green/2021/*/')`), DuckDB and pyarrow glob the
zones and know nothing of the platform's bookkeeping. These tests read the lake the way they do after
a normal run, a rerun and a run killed with `kill -9` mid-write, and compare with counts taken
independently (gzip over the raw file, DuckDB's course SQL over the CSV); crash leftovers are
invisible and cleaned up later, and a lake moved elsewhere reads the same. The gcp profile's bucket
zone is read with Spark's `gs://` connector.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from dagster import materialize

from taxi_platform.assets import trip_assets
from taxi_platform.resources import LocalLake
from taxi_platform.tlc import TripMonth
from taxi_platform_tests.support.cli import (
    DAGSTER,
    dagster_home,
    gcp_env,
    materialize_cli,
    user_env,
)
from taxi_platform_tests.support.data import GREEN_CSV, REPO
from taxi_platform_tests.support.keys import key
from taxi_platform_tests.support.oracle import assert_same_report, duckdb_revenue, trips_in, with_zone_names
from taxi_platform_tests.support.processes import group_members, signal_group
from taxi_platform_tests.support.zones import materialize_zones

GREEN = TripMonth.parse("green", "2021-01")
ZONES = ("raw", "pq", "bucket")


def data_lines(raw: Path) -> int:
    """The raw file's data lines, counted with gzip alone (the header is not a trip)."""
    with gzip.open(raw, "rb") as stream:
        return sum(1 for _ in stream) - 1


def reader_counts(spark, data: Path) -> dict[str, int]:
    """The rows each outside reader finds, reading the lake's trips the way its users do."""
    with duckdb.connect() as db:
        duck = db.execute("SELECT count(*) FROM read_parquet(?)", [f"{data}/pq/green/*/*/*.parquet"]).fetchone()[0]
    return {
        "spark pq/green/2021/*/": spark.read.parquet(f"{data}/pq/green/2021/*/").count(),
        "spark bucket/pq/green/*/*": spark.read.parquet(f"{data}/bucket/pq/green/*/*").count(),
        "duckdb pq/green/*/*/*.parquet": duck,
    }


def report_zone(data: Path) -> list[dict]:
    """The report zone as pyarrow.dataset discovers it (every file under the folder)."""
    return ds.dataset(f"{data}/bucket/report/revenue/", format="parquet").to_table().to_pylist()


def hidden_in_zones(data: Path) -> list[str]:
    """Dot names in the zones' folder trees (a partition's own files aside): what a glob would also match."""
    found = []
    for zone in ZONES:
        for folder, dirs, files in os.walk(data / zone):  # does not descend into the partitions' links
            found += [str(Path(folder, name).relative_to(data)) for name in dirs + files if name.startswith(".")]
    return found


def assert_each_row_once(spark, data: Path, expected_trips: int, expected_report: list[dict]) -> None:
    counts = reader_counts(spark, data)
    assert counts == dict.fromkeys(counts, expected_trips), counts
    assert_same_report(report_zone(data), expected_report)
    assert hidden_in_zones(data) == []


def test_every_reader_counts_each_row_once_after_a_run_a_rerun_and_a_kill(resources, data_dir, mirror, spark, tmp_path):
    """One lake, three moments: the readers' counts equal the raw file's data lines, the report zone the oracle's."""
    partition = key("green", "2021-01")
    materialize_zones(resources)
    assert materialize(trip_assets, resources=resources, partition_key=partition).success
    trips = data_lines(data_dir / GREEN.raw_path)
    report = with_zone_names(duckdb_revenue(GREEN_CSV, "green", "2021-01"))
    assert trips == trips_in(GREEN_CSV)
    assert_each_row_once(spark, data_dir, trips, report)

    assert materialize(trip_assets, resources=resources, partition_key=partition).success
    assert_each_row_once(spark, data_dir, trips, report)

    # A run killed with its whole process group while Spark writes typed_trips.
    env = user_env(
        DAGSTER_HOME=dagster_home(tmp_path / "home"), TAXI_DATA_DIR=data_dir, TAXI_SOURCE_URL=mirror.url,
        TAXI_TLC_URL=mirror.url,
    )  # fmt: skip
    command = [str(DAGSTER), "asset", "materialize", "-m", "taxi_platform.definitions"]
    log = tmp_path / "killed.log"
    with log.open("w") as output:
        run = subprocess.Popen(
            # Other run config than the runs before: the raw file is unchanged, so only that makes it type again.
            [*command, "--select", "typed_trips", "--partition", partition, "--config-json", TWO_FILES],
            cwd=REPO, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        in_flight = _await_spark_output(data_dir, run, log)
    finally:
        signal_group(run.pid, signal.SIGKILL)
        run.wait()
    deadline = time.monotonic() + 30
    while group_members(run.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not group_members(run.pid)
    assert in_flight.exists(), "the killed write left its half-written version behind"
    assert in_flight.relative_to(data_dir).parts[0] not in ZONES, f"{in_flight} is in a zone"
    assert_each_row_once(spark, data_dir, trips, report)

    # A later write of the partition removes what the killed one left, once it is stale.
    _age(in_flight.parent, hours=2)
    lake: LocalLake = resources["lake"]
    current = lake.path(GREEN.typed_path).resolve()
    with lake.replace_directory(GREEN.typed_path) as version:
        version.mkdir()
        for part in current.iterdir():
            os.link(part, version / part.name)
    assert not in_flight.parent.exists()
    assert_each_row_once(spark, data_dir, trips, report)


TWO_FILES = json.dumps({"ops": {"typed_trips": {"config": {"partitions": 2}}}})


def _await_spark_output(data: Path, run: subprocess.Popen, log: Path, timeout: float = 300) -> Path:
    """Spark's `_temporary` folder of the run's typed_trips write, as soon as it appears."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for folder, dirs, _ in os.walk(data):
            if "_temporary" in dirs:
                return Path(folder, "_temporary")
        assert run.poll() is None, f"the run ended before it could be killed:\n{log.read_text()[-5000:]}"
        time.sleep(0.05)
    raise AssertionError(f"no Spark output appeared in {timeout}s:\n{log.read_text()[-5000:]}")


def _age(path: Path, hours: float) -> None:
    """Set the modification times of a tree `hours` back, as if a crash had happened then."""
    then = time.time() - hours * 3600
    for folder, dirs, files in os.walk(path):
        for name in dirs + files:
            os.utime(Path(folder, name), (then, then), follow_symlinks=False)
    os.utime(path, (then, then), follow_symlinks=False)


# --- Crash leftovers, without Spark: a writer that dies (os._exit) inside its write -----------------

_CRASH = """
import os, sys
import pyarrow as pa, pyarrow.parquet as pq
from taxi_platform.resources import LocalLake

lake = LocalLake(root=sys.argv[1])
with lake.replace_directory("pq/green/2021/01") as version:
    version.mkdir()
    pq.write_table(pa.table({"x": list(range(7))}), version / "part-00000.parquet")
    with lake.replace_file(sys.argv[2]) as download:
        download.path.write_bytes(b"half a download")
        os._exit(9)
"""

TRIPS = pa.table({"PULocationID": pa.array(range(1000), pa.int32()), "total_amount": pa.array([1.5] * 1000)})


def _write_partition(lake: LocalLake, table: pa.Table) -> None:
    with lake.replace_directory("pq/green/2021/01") as version:
        version.mkdir()
        pq.write_table(table, version / "part-00000.parquet")
        (version / "_SUCCESS").touch()


def _store_entries(root: Path) -> set[Path]:
    """Everything outside the zones (the lake's own bookkeeping), as paths relative to the root."""
    return {
        Path(folder, name).relative_to(root)
        for folder, dirs, files in os.walk(root)
        for name in dirs + files
        if Path(folder, name).relative_to(root).parts[0] not in (*ZONES, "warehouse.duckdb")
    }


def test_crash_leftovers_are_invisible_and_cleaned_up_later(tmp_path):
    """Writers that die inside a directory and a file write leave nothing in the zones, and nothing for long."""
    root = tmp_path / "data"
    lake = LocalLake(root=str(root))
    _write_partition(lake, TRIPS)
    with lake.replace_file(GREEN.raw_path) as download:
        download.path.write_bytes(b"the previous download")
    raw = lake.path(GREEN.raw_path)
    published = _store_entries(root)

    for _ in range(2):  # two writers die mid-write
        crash = subprocess.run(
            [sys.executable, "-c", _CRASH, str(root), GREEN.raw_path], capture_output=True, text=True, cwd=REPO
        )
        assert crash.returncode == 9, crash.stderr
    leftovers = _store_entries(root) - published
    assert leftovers, "the dead writers left their version and download behind"
    assert hidden_in_zones(root) == []
    assert sorted(p.name for p in raw.parent.iterdir()) == [raw.name] and raw.read_bytes() == b"the previous download"
    with duckdb.connect() as db:
        rows = db.execute("SELECT count(*) FROM read_parquet(?)", [f"{root}/pq/green/*/*/*.parquet"]).fetchone()[0]
    assert rows == TRIPS.num_rows

    # Fresh leftovers may be a live writer's: kept. Stale ones go with the next write.
    _write_partition(lake, TRIPS)
    assert leftovers <= _store_entries(root)
    for path in leftovers:
        if (root / path).exists():
            _age(root / path, hours=2)
    _write_partition(lake, TRIPS)
    remaining = _store_entries(root)
    assert not remaining & {p for p in leftovers if p.name.endswith(".part") or p.parent.name == "01"}, remaining
    assert len([p for p in remaining if p.parent.name == "01"]) == 1, "only the published version is kept"


def test_a_moved_lake_reads_the_same(tmp_path):
    """A partition links to its version relatively, so the lake can be moved or mounted elsewhere."""
    root = tmp_path / "data"
    _write_partition(LocalLake(root=str(root)), TRIPS)
    assert not os.path.isabs(os.readlink(root / "pq/green/2021/01"))

    moved = tmp_path / "moved"
    root.rename(moved)
    with duckdb.connect() as db:
        rows = db.execute("SELECT count(*) FROM read_parquet(?)", [f"{moved}/pq/green/*/*/*.parquet"]).fetchone()[0]
    assert rows == TRIPS.num_rows


# --- The gcp profile's bucket zone on the GCS emulator ---------------------------------------------

_GS_COUNTS = """
import json, sys
from pyspark.sql import SparkSession
from taxi_platform.spark.gcs import gcs_connector_settings

builder = SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false")
for name, value in gcs_connector_settings(sys.argv[1], sys.argv[2]).items():
    builder = builder.config(name, value)
spark = builder.getOrCreate()
print(json.dumps({pattern: spark.read.parquet(pattern).count() for pattern in sys.argv[3:]}))
"""


def gs_counts(env: dict[str, str], *patterns: str) -> dict[str, int]:
    """Rows Spark reads from `gs://` globs: a Spark of its own, started with the GCS connector."""
    where = [env["TAXI_GCS_ENDPOINT"], env["TAXI_GCP_PROJECT"]]
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_GS_COUNTS), *where, *patterns],
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-5000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_gcs_bucket_zone_counts_each_row_once_after_a_run_and_a_rerun(
    tmp_path, mirror, gcs_emulator, bigquery_emulator
):
    """The rerun's parts have new names: the old ones are gone, and `_staging/` is out of the zones' globs."""
    env = gcp_env(tmp_path, mirror.url, gcs_emulator, bigquery_emulator)
    bucket = env["TAXI_GCS_BUCKET"]
    patterns = (f"gs://{bucket}/pq/green/*/*", f"gs://{bucket}/report/revenue/green/*/*")
    select = "taxi_zones,raw_trips,typed_trips,gcs_trips,revenue_report"  # the bucket's zones; not BigQuery
    expected = None
    for run in ("run", "rerun"):
        materialize_cli(env, select if run == "run" else select.removeprefix("taxi_zones,"), key("green", "2021-01"))
        if expected is None:
            trips = data_lines(GREEN_CSV)  # the file the mirror served
            expected = {patterns[0]: trips, patterns[1]: len(duckdb_revenue(GREEN_CSV, "green", "2021-01"))}
        assert gs_counts(env, *patterns) == expected


def test_a_failed_gcs_replace_leaves_the_previous_version_alone(gcs_emulator, tmp_path, monkeypatch):
    """Uploads that fail half-way are taken back: the prefix holds one version, with its marker."""
    from taxi_platform.resources.gcp import bucket as gcs_bucket
    from taxi_platform.resources.gcp.clients import GcsClient
    from taxi_platform_tests.support.emulators import unique_name

    name = gcs_emulator.create_bucket(unique_name("replace"))
    bucket = gcs_bucket.GCSBucket(gcs=GcsClient(project="test-project", endpoint=gcs_emulator.endpoint), bucket=name)
    client = gcs_emulator.client()

    def listed(prefix: str) -> set[str]:
        return {blob.name for blob in client.list_blobs(name, prefix=prefix)}

    def version(write: str) -> str:
        folder = tmp_path / write
        folder.mkdir()
        for part in range(2):
            pq.write_table(TRIPS, folder / f"part-0000{part}-{write}-c000.snappy.parquet")
        (folder / "_SUCCESS").touch()
        return str(folder)

    bucket.publish(version("first"), GREEN.typed_path)
    before = listed(GREEN.typed_path)

    def checksum_mismatch(self, prefix: str, digests: dict[str, str]) -> None:
        raise RuntimeError("checksum mismatch after upload")

    with monkeypatch.context() as patched:
        patched.setattr(gcs_bucket.GCSBucket, "_verify", checksum_mismatch)
        try:
            bucket.publish(version("second"), GREEN.typed_path)
        except RuntimeError as error:
            assert "checksum" in str(error)
        else:
            raise AssertionError("the publish did not fail")
    assert listed(GREEN.typed_path) == before, "the second version's parts were taken back, the marker is up"

    # Spark output a killed run left in `_staging/` goes with the next replace of that prefix, once stale.
    client.bucket(name).blob(f"_staging/{GREEN.report_path}/dead/part-00000.parquet").upload_from_string(b"x")
    monkeypatch.setattr(gcs_bucket, "STALE_SECONDS", -1)
    with bucket.replace_prefix(GREEN.report_path) as staging:
        assert staging.startswith(f"gs://{name}/_staging/{GREEN.report_path}/")
        client.bucket(name).blob(f"{staging.split('/', 3)[3]}/_SUCCESS").upload_from_string(b"")
    assert listed("_staging/") == set()
    assert listed(GREEN.report_path) == {f"{GREEN.report_path}/_SUCCESS"}
