"""The same stages under a real `spark-submit` give the same rows as in-process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pyspark

from taxi_platform.spark.stages import write_revenue_report, write_typed_trips
from taxi_platform.tlc import TripMonth
from taxi_platform_tests.conftest import GREEN_CSV

REPO = Path(__file__).resolve().parents[1]
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
    report = spark_submit("revenue", "--color", "green", "--month", "2021-01",
                          "--input", str(tmp_path / "pq"), "--output", str(tmp_path / "report"))  # fmt: skip

    in_process_typed = write_typed_trips(spark, str(GREEN_CSV), str(tmp_path / "pq_local"), GREEN)
    in_process_report = write_revenue_report(spark, str(tmp_path / "pq_local"), str(tmp_path / "report_local"), GREEN)

    assert typed["rows"] == in_process_typed.rows == 76518
    assert len(list((tmp_path / "pq").glob("part-*.parquet"))) == 4
    assert report["rows"] == in_process_report.rows
    assert report["pickups_outside_month"] == in_process_report.observed["pickups_outside_month"]
    assert rows(tmp_path / "report") == rows(tmp_path / "report_local")
