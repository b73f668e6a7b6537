"""Asset checks: all pass on a real partition; each fails on a partition crafted to break it."""

from __future__ import annotations

import gzip
import shutil
from collections.abc import Callable
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from dagster import AssetCheckSeverity, AssetSelection, Definitions, define_asset_job, materialize

from taxi_platform.assets import trip_assets
from taxi_platform.checks import trip_checks
from taxi_platform.partitions import partition_key, trip_partitions
from taxi_platform.tlc import TripMonth
from taxi_platform_tests.support.resources import local_platform
from taxi_platform_tests.support.zones import materialize_zones

GREEN = TripMonth.parse("green", "2021-02")  # a generated month, so the checks see more than January
NO_SOURCE = "http://127.0.0.1:9"  # runs on the crafted lake download nothing: its raw files are there


@pytest.fixture(scope="module")
def real_lake(tmp_path_factory: pytest.TempPathFactory, mirror_server) -> tuple[Path, list]:
    """The five assets and every check, run once on a real partition."""
    data_dir = tmp_path_factory.mktemp("checked") / "data"
    resources = local_platform(data_dir, mirror_server.url)
    materialize_zones(resources)
    result = materialize([*trip_assets, *trip_checks], resources=resources, partition_key=_key())
    assert result.success
    return data_dir, result.get_asset_check_evaluations()


def _key():
    return partition_key(GREEN)


def test_every_check_passes_on_a_real_partition(real_lake):
    _, evaluations = real_lake
    results = {e.check_name: e.passed for e in evaluations}
    assert results == {name: True for name in results}
    assert set(results) >= {spec.name for check in trip_checks for spec in check.check_specs}
    assert {str(e.partition) for e in evaluations} == {str(_key())}
    audited = {e.check_name: e.metadata["audited"].value for e in evaluations if "audited" in e.metadata}
    written = "the version written in this run, before it was published"
    blocking = ["schema_is_the_course_schema", "rows_match_raw_file", "no_null_pickup_or_zones"]
    assert {name: audited[name] for name in blocking} == dict.fromkeys(blocking, written), "its audit, not a re-read"
    assert audited["total_matches_typed_trips"].startswith("the report written in this run")


def run_check(data_dir: Path, name: str):
    """Run one check (and no asset) on the crafted lake, as `Execute check` in the UI does."""
    check = next(c for c in trip_checks if any(spec.name == name for spec in c.check_specs))
    key = next(spec.key for spec in check.check_specs if spec.name == name)
    job = define_asset_job("check_only", selection=AssetSelection.checks(key), partitions_def=trip_partitions)
    defs = Definitions(
        assets=trip_assets, asset_checks=trip_checks, jobs=[job], resources=local_platform(data_dir, NO_SOURCE)
    )
    # A checks-only job resolves no partitions definition in this Dagster line: name the partition by tag.
    result = defs.resolve_job_def("check_only").execute_in_process(
        tags={"dagster/partition": str(_key())}, raise_on_error=False
    )
    [evaluation] = result.get_asset_check_evaluations()
    blocking = next(spec.blocking for spec in check.check_specs if spec.name == name)
    # A failed blocking check fails its step, so the stages below it do not run on the partition.
    assert result.success == (evaluation.passed or not blocking or evaluation.severity.value == "WARN")
    return evaluation


def rewrite_parquet(data_dir: Path, relative: str, change: Callable[[pa.Table], pa.Table]) -> None:
    """Replace a lake partition with its own rows changed: the crafted bad partition."""
    directory = (data_dir / relative).resolve()
    table = change(pq.read_table(str(directory)))
    for part in directory.glob("*.parquet"):
        part.unlink()
    pq.write_table(table, directory / "part-00000-crafted.parquet")


def with_column(name: str, values: Callable[[pa.Table], pa.Array]) -> Callable[[pa.Table], pa.Table]:
    return lambda table: table.set_column(table.schema.get_field_index(name), name, values(table))


@pytest.fixture
def crafted(real_lake, tmp_path: Path) -> Path:
    data_dir = tmp_path / "data"
    shutil.copytree(real_lake[0], data_dir, symlinks=True)
    return data_dir


@pytest.mark.parametrize(
    ("check", "change", "severity"),
    [
        (
            "schema_is_the_course_schema",
            with_column("PULocationID", lambda t: t["PULocationID"].cast(pa.string())),
            "ERROR",
        ),
        ("rows_match_raw_file", lambda table: table.slice(0, table.num_rows - 7), "ERROR"),
        ("rows_match_raw_file", lambda table: table.slice(0, 0), "ERROR"),
        (
            "no_null_pickup_or_zones",
            with_column("DOLocationID", lambda t: pa.array([None, *t["DOLocationID"].to_pylist()[1:]], pa.int32())),
            "ERROR",
        ),
        (
            "few_pickups_outside_month",
            with_column(
                "lpep_pickup_datetime",
                # Every 20th trip moved a year back: 5 % outside the month.
                lambda t: pc.if_else(
                    pa.array([i % 20 == 0 for i in range(t.num_rows)]),
                    pc.subtract(t["lpep_pickup_datetime"], pa.scalar(365 * 86400 * 10**6, pa.duration("us"))),
                    t["lpep_pickup_datetime"],
                ),
            ),
            "WARN",
        ),
    ],
    ids=["schema", "rows-fewer", "rows-none", "nulls", "outside-month"],
)
def test_typed_trips_check_fails_on_crafted_partition(crafted: Path, check: str, change, severity: str):
    assert run_check(crafted, check).passed, "the untouched copy passes"
    rewrite_parquet(crafted, GREEN.typed_path, change)
    evaluation = run_check(crafted, check)
    assert not evaluation.passed, evaluation.metadata
    assert evaluation.severity == AssetCheckSeverity[severity]
    if "audited" in evaluation.metadata:  # a blocking check, run on its own: it read what is published
        assert evaluation.metadata["audited"].value == "the published partition, now"


def test_report_total_check_fails_when_the_report_is_off(crafted: Path):
    rewrite_parquet(
        crafted,
        f"bucket/{GREEN.report_path}",
        with_column("revenue_monthly_total_amount", lambda t: pc.add(t["revenue_monthly_total_amount"], 0.01)),
    )
    evaluation = run_check(crafted, "total_matches_typed_trips")
    assert not evaluation.passed
    assert evaluation.metadata["audited"].value == "the published report and typed partition, now"
    assert evaluation.metadata["report_total_amount"].value != evaluation.metadata["typed_in_month_total_amount"].value


def test_report_total_check_fails_when_typed_trips_changed_under_it(crafted: Path):
    rewrite_parquet(crafted, GREEN.typed_path, lambda table: table.slice(0, table.num_rows // 2))
    assert not run_check(crafted, "total_matches_typed_trips").passed


@pytest.mark.parametrize(
    "statement",
    [
        "DELETE FROM revenue WHERE revenue_zone = (SELECT max(revenue_zone) FROM revenue)",
        "UPDATE revenue SET revenue_monthly_tip_amount = revenue_monthly_tip_amount + 1 "
        "WHERE revenue_zone = (SELECT min(revenue_zone) FROM revenue)",
        "INSERT INTO revenue SELECT * FROM revenue LIMIT 1",
    ],
    ids=["row-missing", "value-changed", "row-duplicated"],
)
def test_warehouse_check_fails_when_the_slice_differs_from_the_report(crafted: Path, statement: str):
    with duckdb.connect(str(crafted / "warehouse.duckdb")) as db:
        db.execute(statement)
    evaluation = run_check(crafted, "slice_matches_report")
    assert not evaluation.passed, evaluation.metadata


def test_unparsed_values_warn_on_a_crafted_raw_file(crafted: Path):
    """all_values_parsed is computed while Spark parses: a raw file with a non-integer count warns."""
    raw = crafted / GREEN.raw_path
    lines = gzip.decompress(raw.read_bytes()).split(b"\n")
    fields = lines[1].split(b",")
    fields[7] = b"2.5"  # passenger_count
    lines[1] = b",".join(fields)
    raw.write_bytes(gzip.compress(b"\n".join(lines)))
    result = materialize(
        [*trip_assets, *trip_checks],
        resources=local_platform(crafted, NO_SOURCE),
        partition_key=_key(),
        selection=["typed_trips"],
    )
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    unparsed = checks["all_values_parsed"]
    assert not unparsed.passed and unparsed.severity == AssetCheckSeverity.WARN
    assert unparsed.metadata["unparsed_by_column"].value == {"passenger_count": 1}
