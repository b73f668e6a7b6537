"""The benchmark: the platform against the course's plain scripts and bare Spark, on the same input.

    .venv/bin/python benchmarks/run.py [DATA_DIR] [--repeats 3] [--heavy-repeats 1] [--rows 3000000]

DATA_DIR (default `../shared/data` beside the repository) holds the TLC files: the seven real green
2021 months and the yellow 2021-01 sample. Without it, the committed `taxi_platform_tests/data`
(green 2021-01 + the yellow sample) is used and RESULTS.md says so. Everything is served over HTTP by
the loopback mirror (`taxi_platform_tests.support.mirror`), for Dagster and for the plain scripts alike, in a
scratch folder that is removed at the end. Each measured run is a fresh process that pays its own
interpreter and JVM start, as a user's run does. Compared variants are interleaved (A, B, A, B, ...)
so a change in the machine's load hits both, and each result is stored with `os.getloadavg()`.
Writes `benchmarks/RESULTS.md` (and the raw numbers to `benchmarks/results.json`).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime as dt
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.memory import PeakRss  # noqa: E402
from benchmarks.report import write_results  # noqa: E402
from benchmarks.synthetic import write_month  # noqa: E402
from benchmarks.ui_backfill import DagsterDev  # noqa: E402
from taxi_platform_tests.support.mirror import MirrorServer, build_mirror  # noqa: E402

PY = sys.executable
PROBES = REPO / "benchmarks/probes.py"
PLAIN = REPO / "benchmarks/course/plain_way.py"
ONE = "green:2021-01"
BACKFILL = [f"green:2021-{m:02d}" for m in range(1, 8)] + ["yellow:2021-01"]
SYNTHETIC = "yellow:2021-03"
YEAR = [f"yellow:2020-{m:02d}" for m in range(1, 13)]  # twelve generated real-size months of one color
BIG = "yellow:2019-03"  # a generated month of a 2019 yellow month's size (10 million rows)
TRIP_ASSETS = ["raw_trips", "typed_trips", "gcs_trips", "revenue_report", "bigquery_revenue"]
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "taxi_platform-bench"
FEED = "green:2024-01"  # the TLC feed's real parquet month (the release lacks it)


def log(message: str) -> None:
    print(f"[{dt.datetime.now(dt.UTC):%H:%M:%S}] {message}", flush=True)


def timed(command: list[str], env: dict[str, str] | None = None, timeout: float = 3600) -> dict:
    """Run a command in a fresh process; its wall time, peak RSS (with its JVM), last JSON line and the load."""
    load = os.getloadavg()[0]
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(command, cwd=REPO, env=env or os.environ.copy(), stdout=out, stderr=err, text=True)
        with PeakRss(process.pid) as memory:
            code = process.wait(timeout)
        wall = time.perf_counter() - started
        out.seek(0), err.seek(0)
        stdout, stderr = out.read(), err.read()
    if code:
        raise RuntimeError(f"{' '.join(command)} failed:\n{stderr[-4000:]}")
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    steps = step_seconds(stderr)
    return {"wall_s": wall, "load_before": load, "load_after": os.getloadavg()[0], "tree_rss_mib": memory.peak_mib,
            **({"steps": steps} if steps else {}), **(json.loads(lines[-1]) if lines else {})}  # fmt: skip


_STEP_DONE = re.compile(r'Finished execution of step "(\w+)" in ([^.]*(?:\.\d+)?[a-z]*)\.')
_DURATION_PART = re.compile(r"([\d.]+)\s*(ms|h|m|s)")


def step_seconds(log: str) -> dict[str, float]:
    """Each step's time from a `dagster asset materialize` log ("... in 4.2s.", "... in 1m 22s.", "... in 310ms.")."""
    unit = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    return {
        name: sum(float(value) * unit[scale] for value, scale in _DURATION_PART.findall(duration))
        for name, duration in _STEP_DONE.findall(log)
    }


class Bench:
    def __init__(self, data: Path, work: Path, rows: int, repeats: int, heavy: int, year_rows: int, big_rows: int):
        self.data, self.work, self.rows, self.repeats, self.heavy = data, work, rows, repeats, heavy
        self.year_rows, self.big_rows = year_rows, big_rows
        self.results: dict[str, dict[str, list[dict]]] = {}
        self.notes: list[str] = []
        self.counter = 0

    def record(self, item: str, variant: str, result: dict) -> dict:
        self.results.setdefault(item, {}).setdefault(variant, []).append(result)
        log(f"{item} / {variant}: {result.get('wall_s', 0):.1f}s (load {result['load_before']:.1f})")
        return result

    def fresh(self, name: str) -> Path:
        self.counter += 1
        folder = self.work / f"{self.counter:03d}-{name}"
        folder.mkdir(parents=True)
        return folder

    def dagster_env(self, folder: Path) -> dict[str, str]:
        home = folder / "dagster_home"
        home.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / ".dagster/dagster.yaml", home / "dagster.yaml")
        return {**os.environ, "DAGSTER_HOME": str(home), "TAXI_DATA_DIR": str(folder / "data"),
                "TAXI_SOURCE_URL": self.url, "TAXI_TLC_URL": self.url, "TAXI_LANDING_DIR": str(folder / "landing"),
                "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": PY, "TAXI_PROFILE": "local"}  # fmt: skip

    # --- the measured items -------------------------------------------------------------------

    def import_time(self) -> None:
        for _ in range(max(5, self.repeats)):
            self.record("import", "import taxi_platform.definitions", timed([PY, str(PROBES), "import"]))

    def ui(self) -> None:
        for _ in range(self.repeats):
            self.record("ui", "dagster dev", self._ui_once())

    def _ui_once(self) -> dict:
        folder = self.fresh("ui")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        env = self.dagster_env(folder)
        load = os.getloadavg()[0]
        started = time.perf_counter()
        process = subprocess.Popen(
            [str(Path(PY).parent / "dagster"), "dev", "-m", "taxi_platform.definitions", "-h", "127.0.0.1",
             "-p", str(port)], cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        answered = loaded = None
        query = json.dumps({"query": "{ workspaceOrError { ... on Workspace { locationEntries { loadStatus "
                            "locationOrLoadError { __typename } } } } }"}).encode()  # fmt: skip
        try:
            while time.perf_counter() - started < 180 and loaded is None:
                try:
                    if answered is None:
                        urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2).read()
                        answered = time.perf_counter() - started
                    request = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", data=query,
                                                     headers={"Content-Type": "application/json"})  # fmt: skip
                    body = json.loads(urllib.request.urlopen(request, timeout=5).read())
                    entries = body["data"]["workspaceOrError"]["locationEntries"]
                    if entries and all(
                        e["loadStatus"] == "LOADED" and e["locationOrLoadError"]["__typename"] == "RepositoryLocation"
                        for e in entries
                    ):
                        loaded = time.perf_counter() - started
                except (OSError, KeyError, TypeError, ValueError):
                    pass
                time.sleep(0.1)
        finally:
            os.killpg(process.pid, signal.SIGINT)  # the process group this benchmark started (Ctrl-C)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        if loaded is None:
            raise RuntimeError("dagster dev did not serve the code location within 180 s")
        return {"wall_s": loaded, "server_answers_s": answered, "code_loaded_s": loaded, "load_before": load,
                "load_after": os.getloadavg()[0]}  # fmt: skip

    def download_memory(self) -> None:
        large = f"{self.rows:,} rows, {self.large_bytes / 2**20:.0f} MiB gzip"
        for _ in range(self.repeats):
            for label, item in (("green 2021-01, 1.3 MiB", ONE), (f"synthetic yellow {large}", SYNTHETIC)):
                color, month = item.split(":")
                target = self.fresh("download") / "file.csv.gz"
                probe = [PY, str(PROBES), "download", self.url, color, month, str(target)]
                self.record("download", label, timed(probe))
                target.unlink()

    def sensor(self) -> None:
        landing = self.work / "landing"
        # Worst case first: 9,832 files that are not monthly files, older than the 168 monthly ones,
        # so the first tick (empty cursor) parses and skips (with a warning) every one of them.
        (landing / "archive").mkdir(parents=True)
        for i in range(10_000 - 168):
            (landing / "archive" / f"export_{i:05d}.csv").write_bytes(b"x")
        for color in ("green", "yellow"):
            (landing / color).mkdir()
            for year in range(2019, 2026):
                for month in range(1, 13):
                    (landing / color / f"{color}_tripdata_{year}-{month:02d}.csv.gz").write_bytes(b"x")
        for _ in range(self.repeats):
            probe = [PY, str(PROBES), "sensor", str(landing)]
            self.record("sensor", "landing_files_sensor, 10,000 files", timed(probe))
            (landing / "green/green_tripdata_2019-01.csv.gz").touch()

    def one_partition(self) -> None:
        color, month = ONE.split(":")
        csv = self.mirror / f"{color}/{color}_tripdata_{month}.csv.gz"
        for _ in range(self.repeats):
            self.run_dagster("one", [ONE])
            self.run_plain("one", [ONE])
            self.run_bare("one", csv, ONE)

    def backfill(self) -> None:
        for _ in range(self.heavy):
            self.run_dagster_backfill()
            self.run_plain("backfill", BACKFILL)
        folder = self.fresh("plain-batched")
        command = [PY, str(PLAIN), "--base", self.url, "--lake", str(folder), "--batched", *BACKFILL]
        self.record("backfill", "plain, batched (1 prepare + 1 spark-sql.py)", timed(command))

    def feed(self) -> None:
        """The real TLC parquet month through the chain (from the feed), against the same stages in bare Spark."""
        color, month = FEED.split(":")
        parquet = self.mirror / f"trip-data/{color}_tripdata_{month}.parquet"
        if not parquet.exists():
            self.notes.append(f"feed: {parquet.name} is not in {self.data}; the feed month was not measured")
            return
        for _ in range(self.repeats):
            self.run_dagster("feed", [FEED])
            self.run_bare("feed", parquet, FEED)

    def synthetic(self) -> None:
        color, month = SYNTHETIC.split(":")
        csv = self.mirror / f"{color}/{color}_tripdata_{month}.csv.gz"
        for _ in range(self.heavy):
            self.run_dagster("synthetic", [SYNTHETIC])
            self.run_bare("synthetic", csv, SYNTHETIC)

    def month(self) -> None:
        """Target 1: one real-size month raw -> report, the platform as a user runs it against the course's way."""
        color, month = SYNTHETIC.split(":")
        csv = self.mirror / f"{color}/{color}_tripdata_{month}.csv.gz"
        for _ in range(self.repeats):
            self.run_dagster("month", [SYNTHETIC])
            self.run_course("month", [SYNTHETIC])
            self.run_bare("month", csv, SYNTHETIC)

    def small(self) -> None:
        """The 8 small real partitions: two `--partition-range` runs at once (one per color, as a UI backfill
        makes them), the UI backfill itself, and the course's batched way, interleaved."""
        for _ in range(self.repeats):
            self.run_ranged_colors("small", BACKFILL)
            self.run_ui_backfill("small", BACKFILL)
            self.run_course("small", BACKFILL)

    def year(self) -> None:
        """Targets 2, 4, 5: twelve real-size months of one color: UI backfill, its unchanged rerun, the course's way."""
        self.generate(YEAR, self.year_rows)
        for _ in range(self.heavy):
            self.run_ui_backfill("year", YEAR, rerun=True)
            self.run_course("year", YEAR)

    def ranged(self) -> None:
        """The cluster issue's targets 1 and 5: the twelve months as one `--partition-range` run (no daemon), its
        unchanged rerun, and the course's batched way, interleaved."""
        self.generate(YEAR, self.year_rows)
        for _ in range(self.heavy):
            self.run_ranged("range", YEAR, rerun=True)
            self.run_course("range", YEAR)

    def standalone(self) -> None:
        """Target 4: the twelve months on one standalone master and 2-core worker, the platform's ranged run
        against the course's batch submitted to the same master."""
        from taxi_platform_tests.support.standalone import StandaloneCluster

        self.generate(YEAR, self.year_rows)
        cluster = StandaloneCluster(cores=os.cpu_count() or 2, memory="4g").start()
        try:
            master = {"TAXI_PROFILE": "standalone", "TAXI_SPARK_MASTER": cluster.master_url}
            # One run alone on the cluster takes every core, as the course's spark-submit does (by default a run
            # takes its share of two, the shipped run limit).
            every_core = self.work / "standalone-run-config.json"
            resources = {"spark": {"config": {"master": cluster.master_url, "cores_max": cluster.cores}}}
            every_core.write_text(json.dumps({"resources": resources}))
            for _ in range(self.heavy):
                self.run_ranged("standalone", YEAR, more=master, config=every_core)
                self.run_course("standalone", YEAR, master=cluster.master_url)
        finally:
            cluster.stop()

    def big(self) -> None:
        """Target 5: a 10-million-row month through the chain with the platform's default driver memory."""
        self.generate([BIG], self.big_rows)
        self.run_dagster("big", [BIG])

    def capacity(self) -> None:
        """CAPACITY.md's inputs: the platform's two Spark stages in bare Spark at three sizes (rows per second)."""
        self.generate([BIG], self.big_rows)
        sizes = [(ONE, self.repeats), (SYNTHETIC, self.heavy), (BIG, 1)]
        for item, runs in sizes:
            color, month = item.split(":")
            csv = self.mirror / f"{color}/{color}_tripdata_{month}.csv.gz"
            for _ in range(runs):
                self.run_bare("capacity", csv, item, variant=item)

    # --- variants -----------------------------------------------------------------------------

    def generate(self, partitions: list[str], rows: int, first_seed: int = 20) -> None:
        """Generated months in the mirror's release layout, kept in a cache between benchmark runs."""
        CACHE.mkdir(parents=True, exist_ok=True)
        todo = {}
        for seed, item in enumerate(partitions, start=first_seed):
            color, month = item.split(":")
            cached = CACHE / f"{color}_tripdata_{month}-{rows}-{seed}.csv.gz"
            if not cached.exists():
                todo[cached] = (month, seed)
        t0 = time.perf_counter()
        with concurrent.futures.ProcessPoolExecutor(os.cpu_count()) as pool:
            list(pool.map(write_month, todo, [rows] * len(todo), *zip(*todo.values(), strict=True)))
        if todo:
            self.notes.append(f"generated {len(todo)} months of {rows:,} rows in {time.perf_counter() - t0:.0f} s")
        for seed, item in enumerate(partitions, start=first_seed):
            color, month = item.split(":")
            target = self.mirror / f"{color}/{color}_tripdata_{month}.csv.gz"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(CACHE / f"{color}_tripdata_{month}-{rows}-{seed}.csv.gz", target)

    def run_course(self, item: str, partitions: list[str], master: str = "local[*]") -> dict:
        """The course's way as a student runs it for many months: download loop, 1 prepare, 1 spark-sql.py."""
        folder = self.fresh(f"course-{item}")
        command = [PY, str(PLAIN), "--base", self.url, "--lake", str(folder), "--batched", "--master", master,
                   *partitions]  # fmt: skip
        return self.record(item, "course", timed(command))

    def run_ranged(
        self,
        item: str,
        partitions: list[str],
        rerun: bool = False,
        more: dict | None = None,
        config: Path | None = None,
    ) -> None:
        """One `dagster asset materialize --partition-range` run of the chain over the months (one color), as
        README documents it; with `rerun`, the same command again with nothing changed."""
        from taxi_platform.partitions import partition_key
        from taxi_platform.tlc.months import TripMonth

        first, last = (str(partition_key(TripMonth.parse(*p.split(":")))) for p in (partitions[0], partitions[-1]))
        env = {**self.dagster_env(self.fresh(f"ranged-{item}")), **(more or {})}
        self.with_zones(env)
        dagster = str(Path(PY).parent / "dagster")
        command = [dagster, "asset", "materialize", "-m", "taxi_platform.definitions", "--select", "raw_trips*",
                   "--partition-range", f"{first}...{last}"]  # fmt: skip
        command += ["--config", str(config)] if config else []
        self.record(item, "dagster, one --partition-range run", timed(command, env))
        if rerun:
            self.record(item, "dagster, the same run again, nothing changed", timed(command, env))

    def run_ranged_colors(self, item: str, partitions: list[str]) -> None:
        """One `--partition-range` run per color, started at once in one instance (the shipped limit is two runs
        at once): timed until both have ended."""
        from taxi_platform.partitions import partition_key
        from taxi_platform.tlc.months import TripMonth

        env = self.with_zones(self.dagster_env(self.fresh(f"ranged-colors-{item}")))
        dagster = str(Path(PY).parent / "dagster")
        commands = []
        for color in sorted({p.split(":")[0] for p in partitions}):
            keys = [str(partition_key(TripMonth.parse(*p.split(":")))) for p in partitions if p.startswith(color)]
            commands.append([dagster, "asset", "materialize", "-m", "taxi_platform.definitions", "--select",
                             "raw_trips*", "--partition-range", f"{keys[0]}...{keys[-1]}"])  # fmt: skip
        load = os.getloadavg()[0]
        started = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(len(commands)) as pool:
            runs = list(pool.map(lambda command: timed(command, env), commands))
        result = {"wall_s": time.perf_counter() - started, "load_before": load, "load_after": os.getloadavg()[0],
                  "runs": len(runs), "run_process_s": [r["wall_s"] for r in runs],
                  "tree_rss_mib": sum(r["tree_rss_mib"] for r in runs)}  # fmt: skip
        self.record(item, "dagster, one --partition-range run per color, at once", result)

    def run_ui_backfill(self, item: str, partitions: list[str], rerun: bool = False) -> None:
        """An asset backfill launched over GraphQL against a running `dagster dev` (the UI's own mutation)."""
        from taxi_platform.partitions import partition_key
        from taxi_platform.tlc.months import TripMonth

        keys = [str(partition_key(TripMonth.parse(*p.split(":")))) for p in partitions]
        folder = self.fresh(f"ui-{item}")
        env = self.with_zones(self.dagster_env(folder))
        dev = DagsterDev(env, REPO)
        try:
            self.record(item, "dagster, UI backfill", dev.backfill(TRIP_ASSETS, keys))
            if rerun:
                self.record(item, "dagster, UI backfill again, nothing changed", dev.backfill(TRIP_ASSETS, keys))
        finally:
            dev.stop()

    def with_zones(self, env: dict[str, str]) -> dict[str, str]:
        """taxi_zones materialized in the instance, unmeasured: a user does it once, not per month."""
        dagster = str(Path(PY).parent / "dagster")
        command = [dagster, "asset", "materialize", "-m", "taxi_platform.definitions", "--select", "taxi_zones"]
        subprocess.run(command, env=env, cwd=REPO, check=True, capture_output=True)
        return env

    def run_dagster(self, item: str, partitions: list[str]) -> dict:
        env = self.with_zones(self.dagster_env(self.fresh(f"dagster-{item}")))
        return self.record(item, "dagster", timed([PY, str(PROBES), "dagster-run", *partitions], env))

    def run_plain(self, item: str, partitions: list[str]) -> dict:
        folder = self.fresh(f"plain-{item}")
        command = [PY, str(PLAIN), "--base", self.url, "--lake", str(folder), *partitions]
        variant = "plain, per month" if item == "backfill" else "plain"
        return self.record(item, variant, timed(command))

    def run_bare(self, item: str, csv: Path, partition: str, variant: str = "bare spark") -> dict:
        color, month = partition.split(":")
        out = self.fresh(f"bare-{item}") / "out"
        zones = self.mirror / "misc/taxi_zone_lookup.csv"
        probe = [PY, str(PROBES), "bare-spark", str(csv), color, month, str(out), str(zones)]
        return self.record(item, variant, timed(probe))

    def run_dagster_backfill(self) -> dict:
        """One run per partition over the chain, two at a time: the platform's backfill design."""
        env = self.dagster_env(self.fresh("dagster-backfill"))
        # The instance (DAGSTER_HOME) exists before a backfill, as with `dagster dev`, with the zones materialized
        # (which creates its storage once, not in two racing processes).
        self.with_zones(env)
        load = os.getloadavg()[0]
        started = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            runs = list(pool.map(lambda p: timed([PY, str(PROBES), "dagster-run", p], env), BACKFILL))
        result = {"wall_s": time.perf_counter() - started, "load_before": load, "load_after": os.getloadavg()[0],
                  "runs": len(runs), "run_process_s": [r["wall_s"] for r in runs],
                  "spark_steps_s": sum(r["spark_steps_s"] for r in runs)}  # fmt: skip
        return self.record("backfill", "dagster, 1 run per partition, 2 at a time", result)

    # --- driver -------------------------------------------------------------------------------

    def run(self, only: set[str] | None) -> None:
        self.mirror = self.work / "mirror"
        published = build_mirror(self.data, self.mirror)
        log(f"mirror of {self.data}: {len(published)} files")
        self.generate([SYNTHETIC], self.rows, first_seed=6)
        color, month = SYNTHETIC.split(":")
        self.large_bytes = (self.mirror / f"{color}/{color}_tripdata_{month}.csv.gz").stat().st_size
        self.notes.append(f"synthetic month: {self.rows:,} yellow rows, {self.large_bytes / 2**20:.0f} MiB gzip")
        server = MirrorServer(self.mirror).start()
        self.url = server.url
        try:
            for name in (
                "range",
                "standalone",
                "month",
                "small",
                "year",
                "big",
                "capacity",
                "backfill",
                "one",
                "feed",
                "synthetic",
                "import",
                "ui",
                "download",
                "sensor",
            ):
                if only and name not in only:
                    continue
                log(f"== {name}")
                try:
                    {"import": self.import_time, "ui": self.ui, "download": self.download_memory,
                     "sensor": self.sensor, "one": self.one_partition, "backfill": self.backfill, "feed": self.feed,
                     "synthetic": self.synthetic, "month": self.month, "small": self.small, "year": self.year,
                     "big": self.big, "capacity": self.capacity, "range": self.ranged,
                     "standalone": self.standalone}[name]()  # fmt: skip
                except Exception as error:  # report the others; the failure is named in RESULTS.md
                    self.notes.append(f"FAILED: {name}: {str(error)[-1500:]}")
                    log(self.notes[-1])
        finally:
            server.stop()


def machine() -> dict:
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr.splitlines()[0]
    return {"date": f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC", "cpus": os.cpu_count(),
            "memory_gib": round(memory, 1), "python": platform.python_version(), "java": java,
            "platform": platform.platform()}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", nargs="?", type=Path, default=REPO.parent / "shared/data")
    parser.add_argument("--repeats", type=int, default=3, help="runs of the cheap items (median, min, max)")
    parser.add_argument("--heavy-repeats", type=int, default=1, help="runs of the backfill and the synthetic month")
    parser.add_argument("--rows", type=int, default=3_000_000, help="rows of the synthetic yellow month")
    parser.add_argument("--year-rows", type=int, default=1_500_000, help="rows of each of the twelve months")
    parser.add_argument("--big-rows", type=int, default=10_000_000, help="rows of the 2019-size month")
    parser.add_argument(
        "--only",
        help="comma-separated items: range,standalone,year,small (the cluster issue's targets), month,big, "
        "import,ui,download,sensor,one,feed,backfill,synthetic",
    )
    parser.add_argument(
        "--merge", action="store_true", help="keep the items of the last results.json that this run does not measure"
    )
    parser.add_argument("--output", type=Path, default=REPO / "benchmarks/RESULTS.md")
    args = parser.parse_args()
    args.output.parent.mkdir(parents=True, exist_ok=True)  # made now, not found missing after the whole run
    data, notes = args.data, []
    needed = [f"green_tripdata_2021_{m:02d}.csv.gz" for m in range(1, 8)]
    if not all((data / name).exists() for name in needed):
        fallback = REPO / "taxi_platform_tests/data"
        notes.append(f"NOTE: {data} lacks the seven green 2021 months; used {fallback} (green 2021-01 + yellow "
                     "sample), so the backfill covers only those two partitions.")  # fmt: skip
        log(notes[-1])
        data = fallback
        global BACKFILL
        BACKFILL = ["green:2021-01", "yellow:2021-01"]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="taxi-bench-") as tmp:
        bench = Bench(
            data.resolve(), Path(tmp), args.rows, args.repeats, args.heavy_repeats, args.year_rows, args.big_rows
        )
        bench.notes[:0] = notes
        bench.run(set(args.only.split(",")) if args.only else None)
    info = machine()
    info["data"] = str(data.resolve())
    info["benchmark_minutes"] = round((time.perf_counter() - started) / 60, 1)
    raw = {
        "machine": info,
        "notes": bench.notes,
        "results": bench.results,
        "backfill_partitions": BACKFILL,
        "year_partitions": YEAR,
        "year_rows": args.year_rows,
        "big_rows": args.big_rows,
        "month_rows": args.rows,
    }
    if args.merge and args.output.with_name("results.json").exists():  # keep the items not run this time
        previous = json.loads(args.output.with_name("results.json").read_text())
        kept = {item: runs for item, runs in previous["results"].items() if item not in bench.results}
        raw["results"] = {**kept, **bench.results}  # an item measured again replaces its old runs whole
        raw["notes"] = [*raw.get("notes", []), f"{', '.join(bench.results)} measured on {info['date']}; "
                        f"{', '.join(kept) or 'nothing'} kept from {previous['machine']['date']}"]  # fmt: skip
    args.output.with_name("results.json").write_text(json.dumps(raw, indent=1, default=str) + "\n")
    write_results(raw, args.output)
    log(f"wrote {args.output}")


if __name__ == "__main__":
    main()
