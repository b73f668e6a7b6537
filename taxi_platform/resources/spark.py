"""The platform's Spark: a session that belongs to one run, in three modes.

dagster-pyspark's resources take only a free-form `spark_config`, reuse any session in the process
and never stop it. This one has the master as config (`local[*]` or a standalone `spark://host:port`,
checked before any JVM waits on it), the settings every stage needs, a session created on first use
(by dagster-pyspark's `spark_session_from_config`), shared by the run's Spark steps and stopped at
teardown, and the GCS connector for `gs://` paths. Its stages run in the run's process; where a stage
runs is the profile's choice of resource (`DataprocSparkResource` in `resources/gcp/` sends the
report to Dataproc), and each stage's metadata says where it ran (`spark_placement`).
"""

from __future__ import annotations

import json
import re
import socket
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from dagster import (
    AssetRecordsFilter,
    ConfigurableResource,
    EnvVar,
    Failure,
    InitResourceContext,
    get_dagster_logger,
)
from dagster_pyspark.resources import spark_session_from_config
from pydantic import Field, PrivateAttr, field_validator
from pyspark.sql import SparkSession

from taxi_platform.partitions import run_partition_keys
from taxi_platform.spark.gcs import gcs_connector_settings
from taxi_platform.spark.jvm import executor_count
from taxi_platform.spark.settings import SESSION_SETTINGS, is_quick, java_options
from taxi_platform.spark.stages import (
    StageResult,
    write_revenue_report,
    write_revenue_reports,
    write_taxi_zones,
    write_typed_trips,
    write_typed_trips_range,
)
from taxi_platform.tlc.months import TripMonth, range_label

# Settings a user's `spark_config` may override; SESSION_SETTINGS may not be overridden.
_DEFAULTS: dict[str, str] = {
    "spark.ui.showConsoleProgress": "false",
    # In local mode the driver is the executor. 1 GiB is what a 10-million-row month (a 2019 yellow month)
    # was measured to complete with on a 2-core machine (benchmarks/RESULTS.md, `big`): a run's Python and
    # JVM stay within an 8 GiB laptop. Raise it in `spark_config` for larger months or `local[N]` with more cores.
    "spark.driver.memory": "1g",
}
_RUNTIME_SQL_SETTINGS = ("spark.sql.session.timeZone", "spark.sql.parquet.outputTimestampType")
_LOCAL_MASTER = re.compile(r"local(\[(\*|\d+)(,\d+)?\])?")
_STANDALONE_MASTER = re.compile(r"spark://([\w.-]+:\d+)(,[\w.-]+:\d+)*")


def check_master(master: str) -> None:
    """Raise ValueError for a master this platform does not run on (checked before any JVM waits on it)."""
    if not (_LOCAL_MASTER.fullmatch(master) or _STANDALONE_MASTER.fullmatch(master)):
        raise ValueError(
            f"Spark master {master!r} is not one this platform runs on: use local[*], local[N] or "
            "spark://host:port (a standalone cluster; Dataproc is the gcp profile's DataprocSparkResource)"
        )


@dataclass(frozen=True)
class StageRun:
    """A stage's result and where it ran (Spark application or Dataproc job), for metadata."""

    result: StageResult
    placement: dict[str, str]


@dataclass(frozen=True)
class RangeRun:
    """A stage's results for many months from one job, by the folder each month was written to, and where it ran."""

    results: dict[str, StageResult]
    placement: dict[str, str]


class SparkResource(ConfigurableResource):
    """Spark on `local[*]`, a standalone `spark://host:7077` cluster (client mode), or Dataproc."""

    master: str = Field(default="local[*]", description="`local[*]`, `local[N]` or `spark://host:port` (client mode).")
    app_name: str = Field(default="taxi_platform", description="Spark application name shown in the Spark UI.")
    driver_host: str = Field(default="127.0.0.1", description="Address the driver binds and advertises.")
    python: str = Field(default=sys.executable, description="Python for executors (default: this one).")
    spark_config: dict[str, Any] = Field(default_factory=dict, description="Extra Spark settings, e.g. memory.")
    gcs_connector: bool = Field(default=False, description="Put the GCS connector on the classpath for gs:// paths.")
    gcs_endpoint: str | None = Field(default=None, description="GCS API root for the connector (an emulator).")
    gcp_project: str | None = Field(default=None, description="Project the GCS connector bills to.")
    executor_wait_seconds: float = Field(
        default=60.0, description="How long a standalone application waits for its first executor before failing."
    )
    master_ui_url: str | None = Field(
        default=None,
        description="The standalone master's web UI (its `/json/` status gives the cluster's cores); "
        "default: the master's host, port 8080.",
    )
    concurrent_runs: int = Field(
        default=2,
        ge=1,
        description="Runs that share one standalone cluster at once: matches the shipped run limit "
        "(.dagster/dagster.yaml, max_concurrent_runs 2), so each application takes cores // concurrent_runs.",
    )
    cores_max: int | None = Field(
        default=None, ge=1, description="`spark.cores.max` for a standalone application instead of its share."
    )
    quick_jit_rows: int = Field(
        default=1_000_000,
        ge=0,
        description="A session started for typing fewer rows than this compiles with C1 only "
        "(`-XX:TieredStopAtLevel=1`): short work starts sooner and takes less CPU, long work runs its hot "
        "loops at half speed. 0: never.",
    )
    start_early: bool = Field(
        default=True,
        description="With `quick_jit_rows` 0, start the run's Spark session in the background when the run "
        "starts, so the JVM starts while the steps before the first Spark step (the download) run. Not when "
        "every asset of the run was materialized before for every partition of the run (most likely a rerun "
        "that keeps them). Otherwise a session starts where it is first used, when the size of its work is known.",
    )
    _session: SparkSession | None = PrivateAttr(default=None)
    _owns_session: bool = PrivateAttr(default=False)
    _starting: threading.Thread | None = PrivateAttr(default=None)
    _start_error: BaseException | None = PrivateAttr(default=None)
    _cores_max: str | None = PrivateAttr(default=None)

    @field_validator("master", mode="before")
    @classmethod
    def _known_master(cls, master: str) -> str:
        if not isinstance(master, EnvVar):  # an EnvVar's value is checked by the profile, naming the variable
            check_master(master)
        return master

    def _settings(self, quick: bool = False) -> dict[str, str]:
        placement = {
            "spark.driver.host": self.driver_host,
            "spark.driver.bindAddress": self.driver_host,
            "spark.pyspark.python": self.python,
        }
        gcs = gcs_connector_settings(self.gcs_endpoint, self.gcp_project) if self.gcs_connector else {}
        user = {k: str(v) for k, v in self.spark_config.items()}
        return {**_DEFAULTS, **placement, **gcs, **user, **java_options(user, quick), **SESSION_SETTINGS}

    def setup_for_execution(self, context: InitResourceContext) -> None:
        # Only a session of our own starts early; one already in the process is reused where it is used.
        # A session started before its work is sized cannot choose its compiler (`quick_jit_rows`).
        early = self.start_early and not self.quick_jit_rows
        if early and SparkSession.getActiveSession() is None and _makes_new_partitions(context):
            self._starting = threading.Thread(target=self._start, name="spark-session-start", daemon=True)
            self._starting.start()

    def _start(self) -> None:
        try:
            self._session = self._new_session()
        except BaseException as error:  # raised where the session is first used (a run without Spark steps never is)
            self._start_error = error

    def _await_start(self) -> None:
        """Wait for a session starting in the background; raise what stopped it."""
        starting = self._starting
        if starting is None or starting is threading.current_thread():
            return
        starting.join()
        self._starting = None
        if self._start_error is not None:
            error, self._start_error = self._start_error, None
            raise error

    @property
    def spark_session(self) -> SparkSession:
        """The run's session, started on first use (or the one already in this process)."""
        return self._session_for(None)

    def _session_for(self, rows: int | None) -> SparkSession:
        """The run's session; one started here for typing `rows` rows chooses its compiler by them."""
        self._await_start()
        if self._session is None:
            self._session = self._new_session(rows)
        return self._session

    def _new_session(self, rows: int | None = None) -> SparkSession:
        log = get_dagster_logger()
        active = SparkSession.getActiveSession()
        if active is not None:
            # getOrCreate would silently ignore our static settings; say so and set what can be set.
            for key in _RUNTIME_SQL_SETTINGS:
                active.conf.set(key, SESSION_SETTINGS[key])
            log.warning(f"Reusing the Spark session already in this process (master {active.sparkContext.master}).")
            return active
        standalone = self.master.startswith("spark://")
        if standalone:
            _require_reachable(self.master)
        quick = rows is not None and rows < self.quick_jit_rows
        settings = {"spark.master": self.master, "spark.app.name": self.app_name, **self._settings(quick)}
        if standalone:
            settings = {**self._share_of_cores(settings), **settings}
        self._cores_max = settings.get("spark.cores.max")
        compiler = f"C1 only, for {rows:,} rows" if quick else "C1 and C2"
        log.info(f"Starting Spark session on {self.master} ({compiler})")
        session = spark_session_from_config(settings)
        self._owns_session = True
        if standalone:
            self._await_executor(session)
        log.info(f"Spark application {session.sparkContext.applicationId} started on {self.master}")
        return session

    def _master_status(self) -> dict[str, Any] | None:
        """The standalone master's JSON status, or None (logged) when it cannot be read."""
        url = (
            self.master_ui_url or f"http://{self.master.removeprefix('spark://').split(',')[0].rsplit(':', 1)[0]}:8080"
        )
        try:
            opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
            with opener.open(f"{url.rstrip('/')}/json/", timeout=5) as response:
                return json.load(response)
        except (OSError, ValueError) as error:
            get_dagster_logger().warning(f"Could not read the Spark master's status at {url}/json/: {error}")
            return None

    def _share_of_cores(self, settings: dict[str, str]) -> dict[str, str]:
        """`spark.cores.max` so that `concurrent_runs` applications fit on the cluster at once.

        Standalone gives one application every free core by default, so a second run would wait for
        the first and fail after `executor_wait_seconds`. A user's setting or `cores_max` wins; a
        master whose status cannot be read leaves the cores uncapped (Spark's own default).
        """
        if "spark.cores.max" in settings:
            return {}
        if self.cores_max is not None:
            return {"spark.cores.max": str(self.cores_max)}
        status = self._master_status()
        if status is None:
            return {}
        cores = _alive_cores(status)
        if cores < 1:
            return {}
        share = max(1, cores // self.concurrent_runs)
        get_dagster_logger().info(
            f"Taking {share} of the cluster's {cores} cores ({self.concurrent_runs} runs at once)"
        )
        return {"spark.cores.max": str(share)}

    def _await_executor(self, session: SparkSession) -> None:
        """A standalone application with no free worker cores waits forever; fail instead."""
        context = session.sparkContext
        deadline = time.monotonic() + self.executor_wait_seconds
        said = 0.0
        while executor_count(session) < 1:
            if time.monotonic() - said >= 5:
                said = time.monotonic()
                self._say_waiting(context.applicationId)
            if time.monotonic() > deadline:
                application = context.applicationId
                session.stop()
                self._owns_session = False
                raise Failure(
                    f"Spark application {application} got no executor from {self.master} within "
                    f"{self.executor_wait_seconds:.0f}s: is a worker running with free cores? "
                    "(one application takes all of a worker's cores; the next one waits)"
                )
            time.sleep(0.5)

    def _say_waiting(self, application: str) -> None:
        """Tell the run's log why it waits: the other applications hold the cores."""
        status = self._master_status()
        if status is None:
            get_dagster_logger().info(f"Spark application {application} waits for cores on {self.master}")
            return
        total = _alive_cores(status)
        used = sum(app.get("cores", 0) for app in status.get("activeapps", []) if app.get("id") != application)
        get_dagster_logger().info(
            f"Spark application {application} waits for cores on {self.master}: "
            f"{used} of {total} cores in use by other applications"
        )

    @property
    def application(self) -> dict[str, str]:
        """Where this run's in-process Spark work ran, for materialization metadata."""
        context = self.spark_session.sparkContext
        placement = {"spark_placement": "in-process", "spark_application_id": context.applicationId,
                     "spark_master": context.master or self.master,
                     "spark_jit": "quick" if is_quick(dict(context.getConf().getAll())) else "tiered"}  # fmt: skip
        if self._cores_max is not None:
            placement["spark_cores_max"] = self._cores_max
        return placement

    @contextmanager
    def described(self, stage: str, rows: int | None = None) -> Iterator[None]:
        """The Spark jobs of the block carry `stage` as their description: the Spark UI and event log say which
        asset and months ran each job. A session started here for `rows` rows chooses its compiler by them."""
        context = self._session_for(rows).sparkContext
        context.setJobDescription(stage)
        try:
            yield
        finally:
            context.setJobDescription(None)  # type: ignore[arg-type]

    def run_typed_trips(
        self,
        raw_path: str,
        output: str,
        month: TripMonth,
        partitions: int,
        quarantine: str | None = None,
        rows: int | None = None,
    ) -> StageRun:
        """Type one month's raw file (CSV or parquet), its bad rows into `quarantine`, in this run's session.

        A local CSV is cut into parts beside `output` (the lake's store, on the lake's disk, which the
        executors write to anyway, so a standalone cluster's workers read them too; a crash's leftovers
        are swept with stale versions), not in the system's temporary folder.
        """
        staging = None if urlparse(output).scheme not in ("", "file") else str(Path(urlparse(output).path).parent)
        with self.described(f"typed_trips {month.label}", rows):
            result = write_typed_trips(self.spark_session, raw_path, output, month, partitions, quarantine, staging)
        return StageRun(result, self.application)

    def run_typed_trips_range(self, inputs: list[tuple[TripMonth, str, int]], output: str, partitions: int) -> RangeRun:
        """Type many months' CSVs in one Spark job (`write_typed_trips_range`), in this run's session.

        `inputs` are (month, raw file, its data lines). Local files are cut into parts beside a local
        `output` (the lake's store, which a standalone cluster's workers read); `gs://` files are read whole.
        """
        local = urlparse(output).scheme in ("", "file")
        staging = str(Path(urlparse(output).path).parent) if local else None
        with self.described(f"typed_trips {range_label([month for month, *_ in inputs])}", sum(n for *_, n in inputs)):
            results = write_typed_trips_range(self.spark_session, inputs, output, partitions, staging)
        return RangeRun(results, self.application)

    def run_revenue_report(self, trips_path: str, zones_path: str, output: str, month: TripMonth) -> StageRun:
        """Build one month's revenue report, with its zones' names, in this run's Spark session."""
        with self.described(f"revenue_report {month.label}"):
            result = write_revenue_report(self.spark_session, trips_path, zones_path, output, month)
        return StageRun(result, self.application)

    def run_revenue_reports(self, inputs: list[tuple[TripMonth, str]], zones_path: str, output: str) -> RangeRun:
        """Many months' reports in one Spark job (`write_revenue_reports`), in this run's session."""
        with self.described(f"revenue_report {range_label([month for month, *_ in inputs])}"):
            results = write_revenue_reports(self.spark_session, inputs, zones_path, output)
        return RangeRun(results, self.application)

    def run_taxi_zones(self, csv_path: str, output: str) -> StageRun:
        """Type the zone lookup into parquet in this run's Spark session (its input is on the run's disk)."""
        with self.described("taxi_zones"):
            return StageRun(write_taxi_zones(self.spark_session, csv_path, output), self.application)

    def teardown_after_execution(self, context: InitResourceContext | None) -> None:
        if self._starting is not None and self._starting is not threading.current_thread():
            self._starting.join()  # a session still starting is stopped once started
            self._starting, self._start_error = None, None
        if self._session is not None and self._owns_session:
            self._session.stop()
        self._session = None
        self._owns_session = False


def _alive_cores(status: dict[str, Any]) -> int:
    """The cores of the workers a standalone master's `/json/` status lists as alive."""
    return sum(worker.get("cores", 0) for worker in status.get("workers", []) if worker.get("state") == "ALIVE")


def _require_reachable(master: str, timeout: float = 5.0) -> None:
    """Spark retries an unreachable master for a minute before giving up; check in seconds."""
    for address in master.removeprefix("spark://").split(","):
        host, port = address.rsplit(":", 1)
        try:
            socket.create_connection((host, int(port)), timeout=timeout).close()
            return
        except OSError as error:
            problem = error
    raise Failure(
        f"Spark master {master} is not reachable ({problem}). Start it (scripts/standalone, see docs/profiles.md) "
        "or point TAXI_SPARK_MASTER at a running master."
    )


def _makes_new_partitions(context: InitResourceContext) -> bool:
    """Whether one of the run's assets may never have been materialized for one of the run's partitions.

    A run that only makes partitions made before is most often a rerun that keeps them: a JVM started
    early would compete for the cores with steps that find nothing to do. One query per asset: its
    latest materializations, as many as the run has partitions, name each partition once only if
    every one was made (else, as when they name one twice, the session starts early).
    """
    instance, run = context.instance, context.dagster_run
    keys = run_partition_keys(run.tags) if run is not None else []
    if instance is None or run is None or not keys or not run.asset_selection:
        return True
    for asset in run.asset_selection:
        latest = instance.fetch_materializations(AssetRecordsFilter(asset_key=asset, asset_partitions=keys), len(keys))
        if {record.partition_key for record in latest.records} != set(keys):
            return True
    return False
