"""The same stages under a real `spark-submit` give the same rows as in-process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pyspark
from dagster import materialize

from taxi_platform.assets import gcs_trips, raw_trips, revenue_report, typed_trips
from taxi_platform.partitions import partition_key
from taxi_platform.spark.stages import write_revenue_report, write_taxi_zones, write_typed_trips
from taxi_platform.tlc import TripMonth
from taxi_platform_tests.support.data import GREEN_CSV, REPO, ZONE_LOOKUP
from taxi_platform_tests.support.feed import write_feed_month
from taxi_platform_tests.support.oracle import assert_same_report, trips_in
from taxi_platform_tests.support.zones import materialize_zones

GREEN = TripMonth.parse("green", "2021-01")


def spark_submit(*args: str) -> dict:
    submit = Path(pyspark.__file__).parent / "bin" / "spark-submit"
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}
    done = subprocess.run(
        [str(submit), "--master", "local[2]", "--conf", "spark.ui.enabled=false", "taxi_platform/spark/job.py", *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def rows(folder: Path) -> list[dict]:
    return sorted(pq.read_table(str(folder)).to_pylist(), key=lambda r: [str(v) for v in r.values()])


def test_spark_submit_runs_the_same_stages(spark, tmp_path):
    typed = spark_submit("typed", "--color", "green", "--month", "2021-01",
                         "--input", str(GREEN_CSV), "--output", str(tmp_path / "pq"))  # fmt: skip
    zones = spark_submit("zones", "--input", str(ZONE_LOOKUP), "--output", str(tmp_path / "zones"))
    report = spark_submit("revenue", "--color", "green", "--month", "2021-01", "--input", str(tmp_path / "pq"),
                          "--zones", str(tmp_path / "zones"), "--output", str(tmp_path / "report"))  # fmt: skip

    in_process_typed = write_typed_trips(spark, str(GREEN_CSV), str(tmp_path / "pq_local"), GREEN)
    in_process_zones = write_taxi_zones(spark, str(ZONE_LOOKUP), str(tmp_path / "zones_local"))
    in_process_report = write_revenue_report(
        spark, str(tmp_path / "pq_local"), str(tmp_path / "zones_local"), str(tmp_path / "report_local"), GREEN
    )

    assert typed["rows"] == in_process_typed.rows == trips_in(GREEN_CSV)
    assert len(list((tmp_path / "pq").glob("part-*.parquet"))) == 4
    assert report["rows"] == in_process_report.rows
    assert report["observed"]["pickups_outside_month"] == in_process_report.observed["pickups_outside_month"]
    assert [tuple(c) for c in report["columns"]] == in_process_report.columns
    assert rows(tmp_path / "report") == rows(tmp_path / "report_local")
    assert zones["rows"] == in_process_zones.rows == 265
    assert rows(tmp_path / "zones") == rows(tmp_path / "zones_local")


def test_spark_submit_types_a_parquet_month_as_in_process(spark, tmp_path):
    """The feed's parquet (2019 drift, rows without a zone) through the submitted typed stage, as in-process."""
    month = TripMonth.parse("yellow", "2019-03")
    source = write_feed_month(tmp_path / "yellow_tripdata_2019_03.parquet", "yellow", "2019-03", "2019",
                              rows=1500, seed=4, null_keys=2)  # fmt: skip
    typed = spark_submit("typed", "--color", "yellow", "--month", "2019-03", "--input", str(source),
                         "--output", str(tmp_path / "pq"), "--quarantine", str(tmp_path / "q"))  # fmt: skip
    local = write_typed_trips(
        spark, str(source), str(tmp_path / "pq_local"), month, quarantine_output=str(tmp_path / "q_local")
    )

    assert typed["rows"] == local.rows == 1498
    assert typed["observed"] == local.observed
    assert typed["observed"]["source_format"] == "parquet"
    assert [tuple(c) for c in typed["columns"]] == local.columns
    assert rows(tmp_path / "pq") == rows(tmp_path / "pq_local")
    assert rows(tmp_path / "q") == rows(tmp_path / "q_local") and len(rows(tmp_path / "q")) == 2


def test_course_call_equals_the_assets_reports(resources, data_dir, tmp_path):
    """`spark-submit job.py --input_green ... --input_yellow ... --output ...`, as the course calls
    spark-sql.py, gives exactly the union of the per-partition reports the assets wrote.

    Two green months (the committed one and the mirror's copy of it moved to February) and yellow 2021-01.
    """
    months = [TripMonth.parse(color, month) for color, month in (("green", "2021-01"), ("green", "2021-02"),
                                                                  ("yellow", "2021-01"))]  # fmt: skip
    materialize_zones(resources)
    for month in months:
        result = materialize(
            [raw_trips, typed_trips, gcs_trips, revenue_report], resources=resources, partition_key=partition_key(month)
        )
        assert result.success

    bucket = data_dir / "bucket"
    course = spark_submit(
        "--input_green", str(bucket / "pq/green/*/*"),
        "--input_yellow", str(bucket / "pq/yellow/*/*"),
        "--zones", str(bucket / "zones"), "--output", str(tmp_path / "course"),
    )  # fmt: skip

    assets = [row for month in months for row in rows(bucket / month.report_path)]
    assert course["rows"] == len(assets)
    assert sorted(course["observed"]["months"]) == sorted({m.month.isoformat() for m in months})
    assert_same_report(rows(tmp_path / "course"), assets)
