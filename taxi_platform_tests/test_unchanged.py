"""Rerunning a month whose published file did not change: no download, no parse, and Dagster says up to date.

Real HTTP on 127.0.0.1 (the mirror counts HEADs, GETs and the bodies it sent), real files, real Spark.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import os
from pathlib import Path

import duckdb
import pytest
from dagster import AssetCheckKey, AssetKey, DagsterInstance, materialize
from dagster._core.definitions.assets.graph.asset_graph import AssetGraph
from dagster._core.definitions.data_version import (
    CachingStaleStatusResolver,
    StaleStatus,
    extract_data_version_from_entry,
)
from dagster._core.loader import LoadingContextForTest

from taxi_platform.assets import bigquery_revenue, gcs_trips, raw_trips, revenue_report, typed_trips
from taxi_platform.checks.typed_trips import typed_trips_checks
from taxi_platform.partitions import partition_key
from taxi_platform.tlc import TripMonth
from taxi_platform_tests.support.data import DATA
from taxi_platform_tests.support.mirror import MirrorServer, build_mirror
from taxi_platform_tests.support.resources import local_platform
from taxi_platform_tests.support.zones import materialize_zones

GREEN = TripMonth.parse("green", "2021-01")
PUBLISHED = "green/green_tripdata_2021-01.csv.gz"
PATH = "/" + PUBLISHED


@pytest.fixture
def mirror_root(tmp_path: Path) -> Path:
    """A mirror folder only this test sees, so it may republish a month."""
    root = tmp_path / "mirror"
    build_mirror(DATA, root)
    return root


def serve(root: Path, **options: bool):
    return MirrorServer(root, **options).start()


def csv_rows(path: Path) -> int:
    """Data lines of a gzipped CSV, counted with gzip and csv alone (not the code under test)."""
    with gzip.open(path, "rt", newline="") as text:
        return sum(1 for _ in csv.reader(text)) - 1


def republish(path: Path, keep_rows: int) -> None:
    """The source publishes the month again: other bytes (fewer rows), a later modification time."""
    with gzip.open(path, "rt", newline="") as text:
        lines = text.readlines()[: keep_rows + 1]
    later = path.stat().st_mtime + 120
    path.write_bytes(gzip.compress("".join(lines).encode(), mtime=0))
    os.utime(path, (later, later))


def partition_state(data_dir: Path, relative: str) -> tuple[str, list[tuple[str, int, int, int]]]:
    """The partition link's target and every file's (name, size, mtime, inode) behind it."""
    link = data_dir / relative
    files = sorted(p for p in link.resolve().rglob("*") if p.is_file())
    return os.readlink(link), [(p.name, *(lambda s: (s.st_size, s.st_mtime_ns, s.st_ino))(p.stat())) for p in files]


def run(resources: dict, instance: DagsterInstance, assets: list | None = None):
    return materialize(
        assets or [raw_trips, typed_trips, *typed_trips_checks],
        resources=resources,
        partition_key=partition_key(GREEN),
        instance=instance,
    )


def metadata(result, asset: str) -> dict:
    [materialization] = result.asset_materializations_for_node(asset)
    return {name: value.value for name, value in materialization.metadata.items()}


def checks(result) -> dict[str, bool]:
    return {evaluation.check_name: evaluation.passed for evaluation in result.get_asset_check_evaluations()}


def test_unchanged_month_is_neither_downloaded_nor_parsed_again(mirror_root, data_dir):
    server = serve(mirror_root, etags=True)
    try:
        resources = local_platform(data_dir, server.url)
        instance = DagsterInstance.ephemeral()
        first = run(resources, instance)
        assert server.bodies == [PATH]
        # The records live in the lake's hidden store: a glob over a zone finds only data.
        assert [p for p in data_dir.glob("raw/**/*") if p.is_file()] == [data_dir / GREEN.raw_path]
        assert not list(data_dir.glob("pq/**/*.json")) and not list(data_dir.glob("quarantine/**/*.json"))
        typed_before = partition_state(data_dir, GREEN.typed_path)
        quarantine_before = partition_state(data_dir, GREEN.quarantine_path)
        raw_file = data_dir / GREEN.raw_path
        raw_before = raw_file.stat()

        server.reset()
        second = run(resources, instance)
        assert server.requests == [], "the second run sent a GET"
        assert PATH in server.head_requests
        assert partition_state(data_dir, GREEN.typed_path) == typed_before
        assert partition_state(data_dir, GREEN.quarantine_path) == quarantine_before
        assert (raw_file.stat().st_ino, raw_file.stat().st_mtime_ns) == (raw_before.st_ino, raw_before.st_mtime_ns)

        rows = csv_rows(mirror_root / PUBLISHED)
        raw, typed = metadata(second, "raw_trips"), metadata(second, "typed_trips")
        assert raw["unchanged"] is True and typed["unchanged"] is True
        assert raw["source_version"] == metadata_headers(server)["ETag"]
        assert raw["dagster/row_count"] == typed["dagster/row_count"] == rows
        assert "unchanged" not in metadata(first, "typed_trips")
        assert metadata(first, "typed_trips")["dagster/row_count"] == rows
        # The asset's own checks are not evaluated again: their evaluations are those of the run that typed it.
        assert set(checks(first)) >= OWN_TYPED_CHECKS and not OWN_TYPED_CHECKS & set(checks(second))
        assert metadata(second, "typed_trips")["made_by_run"] == first.run_id
        # Nor are the checks declared apart: the month was kept, so the UI keeps the evaluations of its version.
        assert checks(first)["rows_match_raw_file"] and checks(first)["schema_is_the_course_schema"]
        assert not {"rows_match_raw_file", "schema_is_the_course_schema"} & set(checks(second)), checks(second)
    finally:
        server.stop()


OWN_TYPED_CHECKS = {"all_values_parsed", "no_unknown_columns", "no_lines_quarantined"}


def spark_jobs(spark) -> set[int]:
    """The ids of every Spark job this session has run (none of ours sets a job group)."""
    return set(spark.sparkContext.statusTracker().getJobIdsForGroup())


def latest_evaluation(instance: DagsterInstance, asset: str, check: str) -> tuple[str, float]:
    """(run id, time) of the newest evaluation of `check` the instance holds for the month."""
    key = str(partition_key(GREEN))
    history = instance.event_log_storage.get_asset_check_execution_history(AssetCheckKey(AssetKey(asset), check), 50)
    done = [r for r in history if r.partition == key and r.event is not None and r.status.value != "PLANNED"]
    return done[0].run_id, done[0].event.timestamp


def test_rerun_of_an_unchanged_month_runs_no_spark_job_and_keeps_the_first_evaluations(mirror_root, data_dir, spark):
    server = serve(mirror_root, etags=True)
    try:
        resources = local_platform(data_dir, server.url)
        instance = DagsterInstance.ephemeral()
        materialize_zones(resources, instance=instance)
        chain = [raw_trips, typed_trips, gcs_trips, revenue_report, bigquery_revenue]
        first = run(resources, instance, chain)
        report = f"bucket/{GREEN.report_path}"
        report_before, published_before = (
            partition_state(data_dir, report),
            partition_state(data_dir, "bucket/" + GREEN.typed_path),
        )
        evaluated = {
            check: latest_evaluation(instance, asset, check)
            for asset, check in [("typed_trips", "all_values_parsed"), ("typed_trips", "no_lines_quarantined")]
        }
        assert {run_id for run_id, _ in evaluated.values()} == {first.run_id}
        jobs = spark_jobs(spark)

        second = run(resources, instance, chain)
        assert spark_jobs(spark) == jobs, "the rerun ran Spark jobs"
        assert partition_state(data_dir, report) == report_before, "the report was written again"
        assert partition_state(data_dir, "bucket/" + GREEN.typed_path) == published_before, (
            "the bucket was written again"
        )
        kept, built = metadata(second, "revenue_report"), metadata(first, "revenue_report")
        assert kept["unchanged"] is True and kept["made_by_run"] == first.run_id and "unchanged" not in built
        assert kept["dagster/row_count"] == built["dagster/row_count"] and kept["preview"] == built["preview"]
        published = metadata(second, "gcs_trips")
        assert published["changed"] is False and published["made_by_run"] == first.run_id, "decided from its record"
        assert published["dagster/row_count"] == metadata(first, "gcs_trips")["dagster/row_count"]
        loaded = metadata(second, "bigquery_revenue")
        assert loaded["unchanged"] is True and loaded["made_by_run"] == first.run_id
        assert loaded["dagster/row_count"] == built["dagster/row_count"]
        with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as db:
            assert db.execute("SELECT run_id FROM revenue_loads").fetchall() == [(first.run_id,)], "loaded again"
            assert db.execute("SELECT count(*) FROM revenue").fetchone()[0] == built["dagster/row_count"]
        assert second.get_asset_check_evaluations() == [], "an unchanged month's checks are not evaluated again"
        assert {
            check: latest_evaluation(instance, asset, check)
            for asset, check in [("typed_trips", "all_values_parsed"), ("typed_trips", "no_lines_quarantined")]
        } == evaluated, "the evaluations about the kept partitions are the first run's, with their times"
    finally:
        server.stop()


def metadata_headers(server: MirrorServer) -> dict[str, str]:
    """The mirror's HEAD answer for the month (what `locate` saw)."""
    import urllib.request

    with urllib.request.urlopen(urllib.request.Request(server.url + PATH, method="HEAD")) as response:
        return {name: value.strip('"') for name, value in response.headers.items()}


def test_republished_month_is_downloaded_once_and_typed_again(mirror_root, data_dir):
    server = serve(mirror_root, etags=True)
    try:
        resources = local_platform(data_dir, server.url)
        instance = DagsterInstance.ephemeral()
        run(resources, instance)
        typed_before = partition_state(data_dir, GREEN.typed_path)

        republish(mirror_root / PUBLISHED, keep_rows=50_000)
        server.reset()
        again = run(resources, instance)
        assert server.bodies == [PATH], "the republished month is downloaded exactly once"
        assert partition_state(data_dir, GREEN.typed_path)[0] != typed_before[0], "typed again, a new version"
        raw, typed = metadata(again, "raw_trips"), metadata(again, "typed_trips")
        assert "unchanged" not in raw and "unchanged" not in typed
        assert raw["dagster/row_count"] == typed["dagster/row_count"] == 50_000
        assert raw["sha256"] == hashlib.sha256((mirror_root / PUBLISHED).read_bytes()).hexdigest()
        assert checks(again)["rows_match_raw_file"]
    finally:
        server.stop()


@pytest.mark.parametrize("etags", [True, False], ids=["if-none-match", "if-modified-since"])
def test_head_without_version_asks_with_a_conditional_get(mirror_root, data_dir, etags):
    server = serve(mirror_root, etags=etags, bare_head=True)
    try:
        resources = local_platform(data_dir, server.url)
        instance = DagsterInstance.ephemeral()
        run(resources, instance, [raw_trips])
        assert server.bodies == [PATH]

        server.reset()
        again = run(resources, instance, [raw_trips])
        assert server.requests == [PATH] and server.not_modified == [PATH], "one conditional GET, answered 304"
        assert server.bodies == [], "no body transferred"
        assert metadata(again, "raw_trips")["unchanged"] is True
        assert (data_dir / GREEN.raw_path).is_file()

        republish(mirror_root / PUBLISHED, keep_rows=1000)
        server.reset()
        changed = run(resources, instance, [raw_trips])
        assert server.bodies == [PATH] and server.not_modified == []
        assert metadata(changed, "raw_trips")["dagster/row_count"] == 1000
    finally:
        server.stop()


def test_data_versions_say_up_to_date_after_a_rerun(mirror_root, data_dir):
    server = serve(mirror_root, etags=True)
    try:
        resources = local_platform(data_dir, server.url)
        instance = DagsterInstance.ephemeral()
        key = str(partition_key(GREEN))
        run(resources, instance)
        run(resources, instance)

        def version(asset: str) -> str | None:
            record = instance.get_latest_data_version_record(AssetKey(asset), partition_key=key)
            return extract_data_version_from_entry(record.event_log_entry).value

        sha256 = hashlib.sha256((mirror_root / PUBLISHED).read_bytes()).hexdigest()
        assert version("raw_trips") == sha256
        typed_version = version("typed_trips")
        assert typed_version and typed_version != sha256

        resolver = CachingStaleStatusResolver(
            instance, AssetGraph.from_assets([raw_trips, typed_trips]), LoadingContextForTest(instance)
        )
        assert resolver.get_status(AssetKey("typed_trips"), key) == StaleStatus.FRESH
        assert resolver.get_status(AssetKey("raw_trips"), key) == StaleStatus.FRESH

        # A republished month: raw_trips gets a new data version and typed_trips is stale until typed again.
        republish(mirror_root / PUBLISHED, keep_rows=1000)
        run(resources, instance, [raw_trips])
        resolver = CachingStaleStatusResolver(
            instance, AssetGraph.from_assets([raw_trips, typed_trips]), LoadingContextForTest(instance)
        )
        assert resolver.get_status(AssetKey("typed_trips"), key) == StaleStatus.STALE
    finally:
        server.stop()
