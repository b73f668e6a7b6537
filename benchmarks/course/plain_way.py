"""The course's plain-script way: a download loop, then `spark-submit` per step.

    .venv/bin/python benchmarks/course/plain_way.py --base http://127.0.0.1:8765 --lake DIR green:2021-01 ...

1. download loop (the course's `download_data.sh`, with urllib instead of wget): each month's release
   file into `raw/{color}/{YYYY}/{MM}/{color}_tripdata_{YYYY}_{MM}.csv.gz`;
2. per month, `spark-submit benchmarks/course/prepare.py` (CSV -> parquet, the course's schema);
3. per month, `spark-submit taxi_platform/spark/job.py --input_green|--input_yellow ... --output ...`,
   the course's `spark-sql.py` call, writing `report/{color}/{YYYY}/{MM}/`.

`--batched` does what a course student does by hand for many months instead: one prepare application
over all months and one `spark-sql.py` over all of them (`--input_green pq/green/*/*/`). The last line
printed is JSON with the time of each part.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SPARK_SUBMIT = Path(sys.executable).parent / "spark-submit"
SETTINGS = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.sql.shuffle.partitions": "8",
    "spark.ui.showConsoleProgress": "false",
}


MASTER = "local[*]"  # --master: the course's standalone run submits to the cluster's master instead


def spark_submit(script: Path, *args: str) -> None:
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "SPARK_LOCAL_IP": "127.0.0.1", "PYTHONPATH": str(REPO)}
    confs = [part for key, value in SETTINGS.items() for part in ("--conf", f"{key}={value}")]
    command = [str(SPARK_SUBMIT), "--master", MASTER, *confs, str(script), *args]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")


def download(base: str, lake: Path, color: str, month: str) -> None:
    year, mm = month.split("-")
    target = lake / f"raw/{color}/{year}/{mm}/{color}_tripdata_{year}_{mm}.csv.gz"
    target.parent.mkdir(parents=True, exist_ok=True)
    with urllib.request.urlopen(f"{base}/{color}/{color}_tripdata_{month}.csv.gz") as response, target.open("wb") as f:
        shutil.copyfileobj(response, f, 1 << 20)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True, help="release base URL (the mirror)")
    parser.add_argument("--lake", type=Path, required=True)
    parser.add_argument("--batched", action="store_true", help="one prepare and one report over all months")
    parser.add_argument("--master", default="local[*]", help="where spark-submit runs (a standalone spark://...)")
    parser.add_argument("months", nargs="+", help="color:YYYY-MM")
    args = parser.parse_args()
    global MASTER
    MASTER = args.master
    months = [tuple(item.split(":")) for item in args.months]
    lake = args.lake.absolute()
    started = time.perf_counter()
    for color, month in months:
        download(args.base, lake, color, month)
    downloaded = time.perf_counter()
    prepare, report = REPO / "benchmarks/course/prepare.py", REPO / "taxi_platform/spark/job.py"
    prepare_s = report_s = 0.0
    if args.batched:
        spark_submit(prepare, "--lake", str(lake), *args.months)
        prepare_s = time.perf_counter() - downloaded
        inputs = []
        for color in sorted({color for color, _ in months}):
            inputs += [f"--input_{color}", f"{lake}/pq/{color}/*/*/"]
        spark_submit(report, *inputs, "--output", str(lake / "report/all"))
        report_s = time.perf_counter() - downloaded - prepare_s
    else:
        for color, month in months:
            year, mm = month.split("-")
            t0 = time.perf_counter()
            spark_submit(prepare, "--lake", str(lake), f"{color}:{month}")
            t1 = time.perf_counter()
            spark_submit(
                report, f"--input_{color}", f"{lake}/pq/{color}/{year}/{mm}/", "--output",
                str(lake / f"report/{color}/{year}/{mm}"),
            )  # fmt: skip
            prepare_s += t1 - t0
            report_s += time.perf_counter() - t1
    total = time.perf_counter() - started
    print(json.dumps({"download_s": downloaded - started, "prepare_s": prepare_s, "report_s": report_s,
                      "spark_submits": 2 if args.batched else 2 * len(months), "total_s": total}))  # fmt: skip


if __name__ == "__main__":
    main()
