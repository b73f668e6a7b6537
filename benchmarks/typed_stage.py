"""The typed stage (raw file -> typed parquet) against the course's prepare, in one Spark session.

    .venv/bin/python benchmarks/typed_stage.py [--rows 3000000] [--repeats 3] [--variant NAME=MODULE ...]

Times `write_typed_trips` (of each `--variant` module, default the platform's `taxi_platform.spark.stages`)
on a synthetic yellow month (`benchmarks/synthetic.py`, generated once into `--scratch`) and on the real
green 2021-01, against the course's way on the same file: `spark.read.csv(schema=...)`, `repartition(4)`,
write. Everything runs in one `local[*]` session, interleaved (course, variant, ... per round), so a
change in the machine's load hits every variant; it prints each run and the medians as JSON lines.
Besides wall time it records CPU time (the Spark JVM's plus this Python process's, from /proc and
`os.times`): on a machine shared with others, wall time follows their load, CPU time much less.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.synthetic import write_month

GREEN = Path(__file__).resolve().parents[1] / "taxi_platform_tests/data/green_tripdata_2021_01.csv.gz"


def course_prepare(spark, raw: str, color: str, output: str) -> None:
    """`benchmarks/course/prepare.py`'s step for one file."""
    from taxi_platform.spark.trips import trip_schema

    spark.read.option("header", "true").schema(trip_schema(color)).csv(raw).repartition(4).write.parquet(output)


def cpu_seconds(jvm_pid: int) -> float:
    """CPU time used so far by the JVM (Linux /proc) and by this Python process (the split runs here)."""
    fields = Path(f"/proc/{jvm_pid}/stat").read_text().rsplit(")", 1)[1].split()
    jvm = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    own = os.times()
    return jvm + own.user + own.system


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=3_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--scratch", type=Path, default=Path("/tmp/typed-stage-bench"))
    parser.add_argument("--variant", action="append", help="NAME=MODULE with a write_typed_trips (repeatable)")
    parser.add_argument("--partitions", type=int, default=4)
    args = parser.parse_args()
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

    from pyspark.sql import SparkSession

    from taxi_platform.spark.settings import SESSION_SETTINGS
    from taxi_platform.tlc.months import TripMonth

    synthetic = args.scratch / f"yellow_tripdata_2021_03_{args.rows}.csv.gz"
    if not synthetic.exists():
        write_month(synthetic, args.rows, "2021-03", 6)
    files = {"yellow synthetic": (synthetic, TripMonth.parse("yellow", "2021-03")),
             "green 2021-01": (GREEN, TripMonth.parse("green", "2021-01"))}  # fmt: skip
    variants = {}
    for item in args.variant or ["platform=taxi_platform.spark.stages"]:
        name, module = item.split("=", 1)
        variants[name] = importlib.import_module(module).write_typed_trips

    builder = SparkSession.builder.master("local[*]").appName("typed stage").config("spark.driver.host", "127.0.0.1")
    for key, value in {**SESSION_SETTINGS, "spark.ui.enabled": "false"}.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    out = args.scratch / "out"
    jvm_pid = int(spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid())
    cpu: dict[tuple[str, str], list[float]] = {}
    times: dict[tuple[str, str], list[float]] = {}

    def timed(label: str, variant: str, work) -> None:
        shutil.rmtree(out, ignore_errors=True)
        load = os.getloadavg()[0]
        c0, t0 = cpu_seconds(jvm_pid), time.perf_counter()
        work()
        seconds = time.perf_counter() - t0
        cpu_s = cpu_seconds(jvm_pid) - c0
        cpu.setdefault((label, variant), []).append(cpu_s)
        files_written = len(list(out.glob("pq/part-*")))
        times.setdefault((label, variant), []).append(seconds)
        print(json.dumps({"file": label, "variant": variant, "s": round(seconds, 2), "cpu_s": round(cpu_s, 2),
                          "files": files_written, "load": round(load, 2)}), flush=True)  # fmt: skip

    # One untimed warm-up (JIT, first job) on the small file.
    course_prepare(spark, str(GREEN), "green", str(args.scratch / "warm"))
    shutil.rmtree(args.scratch / "warm")
    for _ in range(args.repeats):
        for label, (path, month) in files.items():
            timed(label, "course", lambda p=path, m=month: course_prepare(spark, str(p), m.color, str(out / "pq")))
            for name, write in variants.items():
                timed(label, name, lambda w=write, p=path, m=month: w(
                    spark, str(p), str(out / "pq"), m, args.partitions, str(out / "quarantine")))  # fmt: skip
    spark.stop()
    shutil.rmtree(out, ignore_errors=True)
    for (label, variant), values in times.items():
        used = cpu[(label, variant)]
        print(json.dumps({"file": label, "variant": variant, "median_s": round(statistics.median(values), 2),
                          "runs": [round(v, 2) for v in values], "median_cpu_s": round(statistics.median(used), 2),
                          "cpu_runs": [round(v, 2) for v in used]}))  # fmt: skip


if __name__ == "__main__":
    main()
