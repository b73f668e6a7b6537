"""Ranged runs: one run over several months of one color keeps each partition's history whole.

The months are small real ones (the committed January's first lines, moved to each month), served by
a loopback mirror of this test's own; what the instance recorded is read back from the instance.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dagster import (
    AssetCheckKey,
    AssetKey,
    AssetRecordsFilter,
    AssetSelection,
    DagsterInstance,
    Definitions,
    define_asset_job,
    materialize,
)

from taxi_platform.assets import trip_assets
from taxi_platform.checks import trip_checks
from taxi_platform.partitions import partition_key, trip_partitions
from taxi_platform.tlc import TripMonth
from taxi_platform_tests.support.mirror import MirrorServer
from taxi_platform_tests.support.months import mirror_folder
from taxi_platform_tests.support.oracle import assert_same_report, duckdb_revenue, with_zone_names
from taxi_platform_tests.support.resources import local_platform
from taxi_platform_tests.support.zones import materialize_zones

MONTHS = [TripMonth.parse("green", f"2021-0{m}") for m in (1, 2, 3)]
ROWS = {month: 1500 + 300 * i for i, month in enumerate(MONTHS)}  # a different count per month
ASSETS = [asset.key.path[-1] for asset in trip_assets]


@pytest.fixture
def small_mirror(tmp_path: Path):
    """A mirror serving the zone lookup and three small green months (1500, 1800, 2100 trips)."""
    root = tmp_path / "small-mirror"
    mirror_folder(root, ROWS)
    server = MirrorServer(root).start()
    yield server
    server.stop()


def data_lines(path: Path) -> int:
    """Trips in a served month, counted apart from the code under test: its non-empty lines but the header."""
    with gzip.open(path, "rt", newline="") as stream:
        return sum(1 for line in stream if line.strip()) - 1


def range_tags(first: TripMonth, last: TripMonth) -> dict[str, str]:
    """The tags an asset backfill gives a ranged run."""
    return {
        "dagster/asset_partition_range_start": str(partition_key(first)),
        "dagster/asset_partition_range_end": str(partition_key(last)),
    }


def run_range(resources: dict, instance: DagsterInstance, first: TripMonth, last: TripMonth, selection=None):
    """One run of the assets (all five, or `selection`) and their checks over first..last, tagged as an asset
    backfill tags it."""
    return materialize(
        [*trip_assets, *trip_checks], resources=resources, instance=instance, tags=range_tags(first, last),
        selection=selection, raise_on_error=False,
    )  # fmt: skip


def materializations(instance: DagsterInstance, asset: str, month: TripMonth) -> list:
    records_filter = AssetRecordsFilter(asset_key=AssetKey(asset), asset_partitions=[str(partition_key(month))])
    return [record.asset_materialization for record in instance.fetch_materializations(records_filter, 50).records]


def evaluations(instance: DagsterInstance, check: AssetCheckKey) -> dict[str | None, list]:
    """A check's evaluations by partition; the partitions whose execution was planned but never evaluated
    (their run failed first) under "planned"."""
    history = instance.event_log_storage.get_asset_check_execution_history(check, limit=100)
    by_partition: dict[str | None, list] = {}
    for record in history:
        event = record.event.dagster_event
        if event.event_type_value == "ASSET_CHECK_EVALUATION_PLANNED":
            by_partition.setdefault("planned", []).append(record.partition)
            continue
        assert event.event_specific_data.partition == record.partition
        by_partition.setdefault(record.partition, []).append(event.event_specific_data)
    return by_partition


def all_check_keys() -> list[AssetCheckKey]:
    in_assets = [spec.key for asset in trip_assets for spec in asset.check_specs]
    return in_assets + [spec.key for check in trip_checks for spec in check.check_specs]


def test_a_range_of_three_months_records_each_partition_with_its_own_metadata_and_checks(small_mirror, tmp_path: Path):
    resources = local_platform(tmp_path / "data", small_mirror.url)
    with DagsterInstance.ephemeral() as instance:
        materialize_zones(resources, instance=instance)
        result = run_range(resources, instance, MONTHS[0], MONTHS[-1])
        assert result.success

        served = {month: data_lines(small_mirror.root / "green" / month.published_name()) for month in MONTHS}
        assert served == ROWS
        apps = set()
        for month in MONTHS:
            for asset in ASSETS:
                [materialization] = materializations(instance, asset, month)
                assert materialization.metadata["dagster/row_count"].value > 0, (asset, month)
            for asset in ("raw_trips", "typed_trips", "gcs_trips"):
                [materialization] = materializations(instance, asset, month)
                assert materialization.metadata["dagster/row_count"].value == served[month], (asset, month)
            [typed] = materializations(instance, "typed_trips", month)
            assert typed.metadata["quarantined_lines"].value == 0
            assert str(month.month.year) in typed.metadata["path"].value and month.mm in typed.metadata["path"].value
            apps.add(typed.metadata["spark_application_id"].value)
            [loaded] = materializations(instance, "bigquery_revenue", month)
            with duckdb.connect(str(tmp_path / "data/warehouse.duckdb"), read_only=True) as db:
                [(rows,)] = db.execute(
                    "SELECT count(*) FROM revenue WHERE service_type = ? AND revenue_month = ?",
                    [month.color, month.month],
                ).fetchall()
            assert loaded.metadata["dagster/row_count"].value == rows > 0
        assert len(apps) == 1, "the three months ran in one Spark session, one run"
        assert len({r.run_id for r in instance.get_runs()}) == 2, "the zones' run and the one ranged run"

        keys = {str(partition_key(month)) for month in MONTHS}
        for check in all_check_keys():
            by_partition = evaluations(instance, check)
            assert set(by_partition) == keys, check
            assert all(len(found) == 1 for found in by_partition.values()), check
            assert all(e.passed for found in by_partition.values() for e in found), check
        [typed_checks] = [asset.check_specs for asset in trip_assets if asset.key == AssetKey("typed_trips")]
        for spec in typed_checks:  # the in-asset checks keep their severity and their spec's blocking
            for found in evaluations(instance, spec.key).values():
                assert (found[0].severity.value, found[0].blocking) == ("WARN", spec.blocking)


def test_a_broken_month_in_a_range_fails_the_run_naming_it_and_keeps_its_neighbours(small_mirror, tmp_path: Path):
    broken = small_mirror.root / "green" / MONTHS[1].published_name()
    whole = broken.read_bytes()
    broken.write_bytes(whole[: len(whole) // 2])  # a truncated gzip, as a dropped download leaves it
    resources = local_platform(tmp_path / "data", small_mirror.url)
    with DagsterInstance.ephemeral() as instance:
        materialize_zones(resources, instance=instance)
        result = run_range(resources, instance, MONTHS[0], MONTHS[-1])
        assert not result.success

        [failure] = result.get_step_failure_events()
        assert failure.step_key == "raw_trips"
        message = failure.step_failure_data.error.message
        first = message.splitlines()[0]
        assert "raw_trips: 1 of 3 months failed: green 2021-02: " in first, message
        assert "truncated" in first or "gzip" in first.lower(), first
        assert "green 2021-01" not in first and "green 2021-03" not in first

        for month in (MONTHS[0], MONTHS[2]):
            [raw] = materializations(instance, "raw_trips", month)
            assert raw.metadata["dagster/row_count"].value == ROWS[month]
            assert raw.metadata["sha256"].value
        assert materializations(instance, "raw_trips", MONTHS[1]) == []
        for asset in ASSETS[1:]:  # the step failed: the stages below it did not run for any month of the range
            assert all(materializations(instance, asset, month) == [] for month in MONTHS), asset
        ran = {event.step_key for event in result.all_events if event.event_type_value == "STEP_START"}
        assert ran == {"raw_trips"}, ran
        assert not (tmp_path / "data" / MONTHS[1].raw_path).exists()
        assert (tmp_path / "data" / MONTHS[0].raw_path).exists() and (tmp_path / "data" / MONTHS[2].raw_path).exists()


def test_a_failed_month_mid_chain_leaves_its_check_history_and_downstream_alone(small_mirror, tmp_path: Path):
    """typed_trips fails for one month: the others are typed and checked per partition, nothing below runs.
    Then a blocking check over the range: it evaluates each month it can, and fails naming the one it cannot."""
    resources = local_platform(tmp_path / "data", small_mirror.url)
    with DagsterInstance.ephemeral() as instance:
        materialize_zones(resources, instance=instance)
        assert run_range(resources, instance, MONTHS[0], MONTHS[-1], AssetSelection.assets("raw_trips")).success
        (tmp_path / "data" / MONTHS[1].raw_path).unlink()  # the month's raw file is gone from the lake
        below = AssetSelection.assets(*ASSETS[1:])
        result = run_range(resources, instance, MONTHS[0], MONTHS[-1], below)
        assert not result.success
        failed = {event.step_key: event.step_failure_data.error.message for event in result.get_step_failure_events()}
        assert list(failed) == ["typed_trips"], failed
        first = failed["typed_trips"].splitlines()[0]
        assert "typed_trips: 1 of 3 months failed: green 2021-02: " in first
        assert "materialize raw_trips for green 2021-02 first" in first

        good = {str(partition_key(MONTHS[0])), str(partition_key(MONTHS[2]))}
        for month in MONTHS:
            typed = materializations(instance, "typed_trips", month)
            assert len(typed) == (0 if month == MONTHS[1] else 1), month
        [typed_trips] = [asset for asset in trip_assets if asset.key == AssetKey("typed_trips")]
        for spec in typed_trips.check_specs:  # planned per partition; the failed month's is never evaluated
            recorded = evaluations(instance, spec.key)
            assert recorded.pop("planned") == [str(partition_key(MONTHS[1]))], spec.name
            assert set(recorded) == good and all(len(found) == 1 for found in recorded.values()), spec.name
        for asset in ASSETS[2:]:
            assert all(materializations(instance, asset, month) == [] for month in MONTHS), asset

        # A blocking check run alone over the range (as *Execute checks* does): Feb has no typed partition
        # to check, and Mar's is rewritten with a trip without its pickup zone.
        typed = (tmp_path / "data" / MONTHS[2].typed_path).resolve()
        table = pq.read_table(str(typed))
        zones = table.column("PULocationID").to_pylist()
        table = table.set_column(
            table.schema.get_field_index("PULocationID"), "PULocationID",
            pa.array([None, *zones[1:]], table.schema.field("PULocationID").type),
        )  # fmt: skip
        for part in typed.glob("*.parquet"):
            part.unlink()
        pq.write_table(table, typed / "part-00000-crafted.parquet")
        [key] = [key for key in all_check_keys() if key.name == "no_null_pickup_or_zones"]
        job = define_asset_job("check_range", selection=AssetSelection.checks(key), partitions_def=trip_partitions)
        defs = Definitions(assets=trip_assets, asset_checks=trip_checks, jobs=[job], resources=resources)
        checked = defs.resolve_job_def("check_range").execute_in_process(
            instance=instance, tags=range_tags(MONTHS[0], MONTHS[-1]), raise_on_error=False
        )
        assert not checked.success
        [failure] = checked.get_step_failure_events()
        first = failure.step_failure_data.error.message.splitlines()[0]
        assert "no_null_pickup_or_zones: 1 of 3 months failed: green 2021-02: " in first, first
        found = {e.partition: (e.passed, e.severity.value, e.blocking) for e in checked.get_asset_check_evaluations()}
        assert found == {
            str(partition_key(MONTHS[0])): (True, "ERROR", True),
            str(partition_key(MONTHS[2])): (False, "ERROR", True),
        }


def spark_jobs(spark) -> set[int]:
    """The ids of every Spark job this session has run (none of ours sets a job group)."""
    return set(spark.sparkContext.statusTracker().getJobIdsForGroup())


@pytest.fixture(params=["local", "standalone"])
def ranged_spark(request):
    """The session the ranged runs reuse (so its jobs can be counted): local, or on a real standalone cluster."""
    if request.param == "local":
        yield request.getfixturevalue("spark")
        return
    from pyspark.sql import SparkSession

    from taxi_platform.resources import SparkResource
    from taxi_platform_tests.support.data import TEST_SPARK_CONFIG

    cluster = request.getfixturevalue("standalone_cluster")
    if (active := SparkSession.getActiveSession()) is not None:
        active.stop()  # another test's local session: this one must be an application on the cluster
    session = SparkResource(master=cluster.master_url, spark_config=TEST_SPARK_CONFIG).spark_session
    yield session
    session.stop()


def test_a_range_types_and_reports_in_as_many_spark_jobs_for_six_months_as_for_three(tmp_path: Path, ranged_spark):
    spark = ranged_spark
    jobs: dict[str, dict[int, int]] = {"typed_trips": {}, "revenue_report": {}}
    for count in (3, 6):
        months = [TripMonth.parse("green", f"2021-{number:02d}") for number in range(1, count + 1)]
        root = tmp_path / f"mirror-{count}"
        sources = mirror_folder(root, {month: 1000 + 100 * i for i, month in enumerate(months)})
        server = MirrorServer(root).start()
        try:
            data_dir = tmp_path / f"data-{count}"
            master = spark.sparkContext.master
            resources, instance = local_platform(data_dir, server.url, master=master), DagsterInstance.ephemeral()
            materialize_zones(resources, instance=instance)
            for stage in ASSETS[:4]:  # raw_trips and gcs_trips run no Spark job
                before = spark_jobs(spark)
                assert run_range(resources, instance, months[0], months[-1], [stage]).success, stage
                if stage in jobs:
                    jobs[stage][count] = len(spark_jobs(spark) - before)
        finally:
            server.stop()
        for month, source in sources.items():
            ours = pq.read_table(str((data_dir / "bucket" / month.report_path).resolve())).to_pylist()
            assert_same_report(ours, with_zone_names(duckdb_revenue(source, "green", month.yyyy_mm)))
            [report] = materializations(instance, "revenue_report", month)
            assert report.metadata["dagster/row_count"].value == len(ours)
            # Every stage of every run in the one application (on the cluster: its executors did the work).
            assert report.metadata["spark_application_id"].value == spark.sparkContext.applicationId
            [typed] = materializations(instance, "typed_trips", month)
            assert typed.metadata["spark_application_id"].value == spark.sparkContext.applicationId
            typed_rows = pq.ParquetDataset(str((data_dir / month.typed_path).resolve())).read().num_rows
            assert typed.metadata["dagster/row_count"].value == typed_rows == data_lines(source)
    for stage, by_count in jobs.items():
        assert 0 < by_count[3] == by_count[6], f"Spark jobs of {stage} by months in the range: {jobs}"


def lake_state(root: Path) -> dict[str, tuple[int, int]]:
    """(inode, mtime) of every file and link of the lake, its store included: a rewrite of any shows."""
    state = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder, name)
            if name == "sweep.lock" or name.startswith("warehouse.duckdb") or (path.is_dir() and not path.is_symlink()):
                continue
            status = path.lstat()
            state[str(path.relative_to(root))] = (status.st_ino, status.st_mtime_ns)
    return state


def evaluation_times(instance: DagsterInstance, check: AssetCheckKey) -> dict[str | None, list[float]]:
    """When each of a check's evaluations was recorded, by partition."""
    history = instance.event_log_storage.get_asset_check_execution_history(check, limit=100)
    times: dict[str | None, list[float]] = {}
    for record in history:
        if record.event.dagster_event.event_type_value == "ASSET_CHECK_EVALUATION":
            times.setdefault(record.partition, []).append(record.event.timestamp)
    return times


def test_a_rerun_of_an_unchanged_range_runs_no_spark_job_and_rewrites_nothing(small_mirror, tmp_path: Path, spark):
    """The three months again, every file unchanged: no Spark job in any stage, no file of the lake or the bucket
    written, nothing loaded, and the asset's own checks keep the first run's evaluations, with their times."""
    data_dir = tmp_path / "data"
    resources, instance = local_platform(data_dir, small_mirror.url), DagsterInstance.ephemeral()
    materialize_zones(resources, instance=instance)
    first = run_range(resources, instance, MONTHS[0], MONTHS[-1])
    assert first.success
    # The asset's own check, and checks declared apart that read the partition when run on their own.
    checks = [
        AssetCheckKey(AssetKey("typed_trips"), "no_lines_quarantined"),
        AssetCheckKey(AssetKey("typed_trips"), "schema_is_the_course_schema"),
        AssetCheckKey(AssetKey("revenue_report"), "total_matches_typed_trips"),
    ]
    evaluated = {check: evaluation_times(instance, check) for check in checks}
    before, jobs = lake_state(data_dir), spark_jobs(spark)

    again = run_range(resources, instance, MONTHS[0], MONTHS[-1])
    assert again.success
    assert spark_jobs(spark) == jobs, "the rerun ran Spark jobs"
    assert lake_state(data_dir) == before, "the rerun wrote into the lake or the bucket"
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as db:
        assert db.execute("SELECT DISTINCT run_id FROM revenue_loads").fetchall() == [(first.run_id,)]
    for month in MONTHS:
        key = str(partition_key(month))
        for check in checks:
            times = evaluation_times(instance, check)[key]
            assert times == evaluated[check][key], f"{check.name}: evaluated again, or an old result shown as new"
            assert len(times) == 1, check.name
        for asset in ASSETS:
            [latest, *_] = materializations(instance, asset, month)
            assert latest.metadata["unchanged" if asset != "gcs_trips" else "changed"].value is (asset != "gcs_trips")
