"""What one measured process does; `benchmarks/run.py` starts each in a fresh interpreter.

    python benchmarks/probes.py dagster-run green:2021-01 [...]   # trip_chain, one run per partition
    python benchmarks/probes.py bare-spark CSV COLOR YYYY-MM OUT ZONES_CSV  # the same Spark stages, no Dagster
    python benchmarks/probes.py import                            # import taxi_platform.definitions
    python benchmarks/probes.py download URL COLOR YYYY-MM TARGET # TripSource.download from URL (both layouts)
    python benchmarks/probes.py sensor LANDING_DIR                # landing_files_sensor ticks

Each prints one JSON line last. `dagster-run` reads TAXI_DATA_DIR, TAXI_SOURCE_URL, TAXI_TLC_URL and DAGSTER_HOME
like the CLI; its runs are in the instance (and the UI) like any other.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path

STARTED = time.perf_counter()
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _emit(values: dict) -> None:
    print(json.dumps(values), flush=True)


def dagster_run(partitions: list[str]) -> None:
    from dagster import DagsterEventType, DagsterInstance

    from taxi_platform.definitions import defs
    from taxi_platform.partitions import partition_key
    from taxi_platform.tlc.months import TripMonth

    imported = time.perf_counter()
    job = defs.get_job_def("trip_chain")
    instance = DagsterInstance.get()
    runs = []
    for item in partitions:
        key = partition_key(TripMonth.parse(*item.split(":")))
        t0 = time.perf_counter()
        result = job.execute_in_process(partition_key=key, instance=instance, raise_on_error=True)
        wall = time.perf_counter() - t0
        steps: dict[str, float] = {}
        starts: dict[str, float] = {}
        for entry in instance.all_logs(result.run_id):
            event = entry.dagster_event
            if event is None or not event.step_key:
                continue
            if event.event_type == DagsterEventType.STEP_START:
                starts[event.step_key] = entry.timestamp
            elif event.event_type == DagsterEventType.STEP_SUCCESS:
                steps[event.step_key] = entry.timestamp - starts[event.step_key]
        runs.append({"partition": item, "run_id": result.run_id, "run_s": wall, "steps": steps})
    spark_s = sum(r["steps"].get("typed_trips", 0) + r["steps"].get("revenue_report", 0) for r in runs)
    data = Path(os.environ["TAXI_DATA_DIR"])
    _emit({"import_s": imported - STARTED, "runs": runs, "spark_steps_s": spark_s,
           "raw_bytes": _zone_bytes(data / "raw"), "typed_bytes": _zone_bytes(data / "pq")})  # fmt: skip


def _zone_bytes(zone: Path) -> int:
    """Bytes a reader of the zone sees (partitions are links into the lake's store)."""
    return sum(Path(root, name).stat().st_size for root, _, names in os.walk(zone, followlinks=True) for name in names)


def bare_spark(csv: str, color: str, month: str, output: str, zones_csv: str) -> None:
    from pyspark.sql import SparkSession

    from taxi_platform.spark.settings import SESSION_SETTINGS
    from taxi_platform.spark.stages import write_revenue_report, write_taxi_zones, write_typed_trips
    from taxi_platform.tlc.months import TripMonth

    t0 = time.perf_counter()
    builder = SparkSession.builder.master("local[*]").appName("bare").config("spark.driver.host", "127.0.0.1")
    for key, value in SESSION_SETTINGS.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    # The zone lookup is typed once, not per month (taxi_zones): outside the measured stages.
    write_taxi_zones(spark, zones_csv, f"{output}/zones")
    t1 = time.perf_counter()
    trip_month = TripMonth.parse(color, month)
    typed = write_typed_trips(spark, csv, f"{output}/pq", trip_month, 4)
    t2 = time.perf_counter()
    write_revenue_report(spark, f"{output}/pq", f"{output}/zones", f"{output}/report", trip_month)
    t3 = time.perf_counter()
    spark.stop()
    _emit({"session_s": t1 - t0, "typed_s": t2 - t1, "revenue_s": t3 - t2, "stages_s": t3 - t1, "rows": typed.rows})


def import_time() -> None:
    t0 = time.perf_counter()
    import taxi_platform.definitions  # noqa: F401

    _emit({"import_s": time.perf_counter() - t0})


def download(url: str, color: str, month: str, target: str) -> None:
    from taxi_platform.resources import TripSource
    from taxi_platform.tlc import TripMonth, inspect_trip_file

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    source = TripSource(base_url=url, tlc_url=url)
    fetched = source.fetch(source.locate(TripMonth.parse(color, month)), Path(target))
    inspect_trip_file(Path(target), color)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    _emit({"bytes": fetched.bytes, "peak_rss_mib": peak, "rss_before_download_mib": before})


def sensor(landing: str) -> None:
    from dagster import DagsterInstance, build_sensor_context

    from taxi_platform.resources import LocalLandingZone
    from taxi_platform.sensors.landing import landing_files_sensor

    zone = LocalLandingZone(root=landing)
    results = {}
    with DagsterInstance.ephemeral() as instance:
        cursor = None
        for label in ("first_tick_all_new", "steady_tick_nothing_new", "tick_after_one_new_file"):
            if label == "tick_after_one_new_file":
                new = Path(landing, "green/.green_tripdata_2019-01.csv.gz.part")
                new.write_bytes(b"x")
                new.replace(new.with_name("green_tripdata_2019-01.csv.gz"))
            context = build_sensor_context(instance=instance, cursor=cursor, resources={"landing": zone})
            t0 = time.perf_counter()
            result = landing_files_sensor(context)
            results[label] = time.perf_counter() - t0
            cursor = result.cursor if hasattr(result, "cursor") and result.cursor else cursor
            results[f"{label}_requests"] = len(getattr(result, "run_requests", None) or [])
            if label == "first_tick_all_new":
                # Drain the zone like the daemon would, tick after tick, so the steady tick is at the end.
                while getattr(result, "run_requests", None):
                    result = landing_files_sensor(
                        build_sensor_context(instance=instance, cursor=cursor, resources={"landing": zone})
                    )
                    cursor = result.cursor or cursor
    results["files"] = sum(1 for _ in zone.list_files())
    _emit(results)


def main() -> None:
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    command, *args = sys.argv[1:]
    {"dagster-run": lambda: dagster_run(args), "bare-spark": lambda: bare_spark(*args), "import": import_time,
     "download": lambda: download(*args), "sensor": lambda: sensor(*args)}[command]()  # fmt: skip


if __name__ == "__main__":
    main()
