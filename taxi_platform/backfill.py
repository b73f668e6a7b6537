"""Backfill many partitions from the command line, paying the JVM start once per worker, not per month.

    DAGSTER_HOME=... TAXI_DATA_DIR=... TAXI_SOURCE_URL=... \\
        python -m taxi_platform.backfill green:2021-01..2021-07 yellow:2021-01 --workers 2

Each partition is still its own `trip_chain` run in the instance (DAGSTER_HOME): the UI shows one run
and one set of materializations and check results per month x color, exactly as a UI backfill makes.
The difference is where the runs execute: `--workers` long-lived processes (default 2, one per core on
a laptop) each take the next partition from a shared queue and run it in-process; a worker is a plain
subprocess fed partitions on its stdin, and ends by itself when the queue is empty. A worker imports the
definitions and launches its JVM once; the next run in it starts a new Spark application in the same JVM
(about 1 s instead of a fresh interpreter, definitions import and JVM launch, 4-6 s on 2 cores). A UI
backfill (one process per run, `max_concurrent_runs: 2`) stays the way to backfill from the UI.

The reports name their zones from `taxi_zones`, which no month's run redoes: when the instance has
never materialized it, the first worker materializes it (its own run) before any partition starts, and
the partitions are not run if that fails.

A failed partition does not stop the others; the exit status is 1 when any failed. The runs are tagged
`taxi_platform/backfill=<id>`.
"""

from __future__ import annotations

import argparse
import json
import queue
import subprocess
import sys
import threading
import time
import uuid

from taxi_platform.tlc.months import COLORS, TripMonth

BACKFILL_TAG = "taxi_platform/backfill"
ZONES = "taxi_zones"  # the unpartitioned asset the reports read; a worker is asked for it as `[ZONES, backfill_id]`
_RESULT = "taxi_platform.backfill result: "


def expand(items: list[str]) -> list[TripMonth]:
    """`green:2021-01..2021-03` -> green 2021-01, green 2021-02, green 2021-03."""
    partitions = []
    for item in items:
        color, _, months = item.partition(":")
        first, _, last = months.partition("..")
        try:
            month, last_month = TripMonth.parse(color, first), TripMonth.parse(color, last or first)
        except ValueError:
            raise ValueError(
                f"{item!r}: expected color:YYYY-MM or color:YYYY-MM..YYYY-MM (color {' or '.join(COLORS)})"
            ) from None
        if last_month.month < month.month:
            raise ValueError(f"{item!r}: not a range of months")
        while month.month <= last_month.month:
            partitions.append(month)
            month = month.following
    return partitions


def _worker() -> None:
    """A worker process: runs the partitions it reads from stdin (one JSON line each), one after another."""
    from dagster import AssetKey, DagsterInstance

    from taxi_platform.definitions import defs
    from taxi_platform.partitions import partition_key

    job, instance = defs.get_job_def("trip_chain"), DagsterInstance.get()
    for line in sys.stdin:
        *item, backfill_id = json.loads(line)
        name = ":".join(item)
        started = time.perf_counter()
        outcome = {"partition": name, "run_id": None, "success": False}
        try:
            if item == [ZONES]:
                result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
                    asset_selection=[AssetKey(ZONES)], instance=instance, raise_on_error=False,
                    tags={BACKFILL_TAG: backfill_id},
                )  # fmt: skip
            else:
                result = job.execute_in_process(
                    partition_key=partition_key(TripMonth.parse(*item)), instance=instance, raise_on_error=False,
                    tags={BACKFILL_TAG: backfill_id},
                )  # fmt: skip
            outcome.update(run_id=result.run_id, success=result.success)
        except Exception as error:  # the run could not even start; the other partitions go on
            outcome["error"] = f"{type(error).__name__}: {error}"
        outcome["seconds"] = time.perf_counter() - started
        print(_RESULT + json.dumps(outcome), flush=True)


def zones_materialized() -> bool:
    """True when the instance (DAGSTER_HOME) has a materialization of taxi_zones. Creates its storage if new."""
    from dagster import AssetKey, DagsterInstance

    instance = DagsterInstance.get()
    try:
        return instance.get_latest_materialization_event(AssetKey(ZONES)) is not None
    finally:
        instance.dispose()


def backfill(partitions: list[TripMonth], workers: int = 2) -> list[dict]:
    """Run `trip_chain` for each partition on `workers` long-lived processes (taxi_zones first if it never ran)."""
    # Asked here, once, which also creates the instance's storage: two workers creating a fresh
    # DAGSTER_HOME's tables at the same moment collide ("table runs already exists").
    zones_ready = threading.Event()
    if zones_materialized():
        zones_ready.set()
    backfill_id = uuid.uuid4().hex[:8]
    todo: queue.Queue[tuple[str, str]] = queue.Queue()
    for partition in partitions:
        todo.put((partition.color, partition.yyyy_mm))
    outcomes: list[dict] = []
    blocked: list[str] = []  # why no partition may run, once that is known

    def ask(worker: subprocess.Popen, item: list[str]) -> bool:
        """Have `worker` run one item; False when the worker died meanwhile."""
        worker.stdin.write(json.dumps([*item, backfill_id]) + "\n")
        worker.stdin.flush()
        for line in worker.stdout:
            if line.startswith(_RESULT):
                outcomes.append(json.loads(line.removeprefix(_RESULT)))
                return True
            sys.stderr.write(line)
        # The worker died: its item failed, the other workers take the rest.
        outcomes.append({"partition": ":".join(item), "run_id": None, "success": False,
                         "seconds": 0.0, "error": f"worker exited with {worker.wait()}"})  # fmt: skip
        return False

    def drive(first: bool) -> None:
        # A fresh interpreter per worker (its own JVM); it ends by itself when its stdin closes.
        worker = subprocess.Popen(
            [sys.executable, "-m", "taxi_platform.backfill", "--worker"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            if first and not zones_ready.is_set():
                try:
                    alive = ask(worker, [ZONES])
                    if outcomes[-1]["success"]:
                        zones_ready.set()
                    else:  # every report would fail for want of zones: run no partition
                        blocked.append(f"not run: {ZONES} failed, so no report could name its zones")
                    if not alive:
                        return
                finally:
                    zones_ready.set()  # the other workers stop waiting, whatever happened
            zones_ready.wait()
            while not blocked:
                try:
                    color, month = todo.get_nowait()
                except queue.Empty:
                    return
                if not ask(worker, [color, month]):
                    return
        finally:
            worker.stdin.close()
            worker.wait()

    count = max(1, min(workers, len(partitions)))
    threads = [threading.Thread(target=drive, args=(index == 0,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    while not todo.empty():  # blocked, or every worker died before these were taken
        color, month = todo.get_nowait()
        outcomes.append({"partition": f"{color}:{month}", "run_id": None, "success": False, "seconds": 0.0,
                         "error": blocked[0] if blocked else "not run: no worker left"})  # fmt: skip
    return outcomes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m taxi_platform.backfill", description=__doc__.splitlines()[0],
        epilog="Reads DAGSTER_HOME and the profile's variables (TAXI_DATA_DIR, TAXI_SOURCE_URL, ...) like `dagster`.",
    )  # fmt: skip
    parser.add_argument("partitions", nargs="*", help="color:YYYY-MM or color:YYYY-MM..YYYY-MM")
    parser.add_argument("--workers", type=int, default=2, help="processes running partitions (default 2)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)  # a worker process
    args = parser.parse_args(argv)
    if args.worker:
        _worker()
        return 0
    if not args.partitions:
        parser.error("name at least one partition, e.g. green:2021-01..2021-07")
    try:
        partitions = expand(args.partitions)
    except ValueError as error:
        parser.error(str(error))
    outcomes = backfill(partitions, args.workers)
    for outcome in sorted(outcomes, key=lambda o: o["partition"]):
        state = "ok" if outcome["success"] else "FAILED"
        error = f": {outcome['error']}" if outcome.get("error") else ""
        print(f"{outcome['partition']}: {state} in {outcome['seconds']:.1f}s (run {outcome['run_id']}){error}")
    return 0 if all(o["success"] for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
