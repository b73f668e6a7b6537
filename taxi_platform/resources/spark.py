"""The platform's Spark session: dagster-pyspark's lazy resource plus what it lacks.

`LazyPySparkResource` has only a free-form `spark_config`, reuses any session in the process and
never stops it. This adds the master as config, the settings every stage needs, and a session that
belongs to one run: created on first use (a run that never touches Spark starts no JVM), shared by
every Spark step of that run (in-process executor), stopped at teardown.
"""

from __future__ import annotations

import sys
from typing import Any

from dagster import InitResourceContext, get_dagster_logger
from dagster_pyspark import LazyPySparkResource
from pydantic import Field, PrivateAttr
from pyspark.sql import SparkSession

from taxi_platform.spark.settings import SESSION_SETTINGS

# Settings a user's `spark_config` may override; SESSION_SETTINGS may not be overridden.
_DEFAULTS: dict[str, str] = {"spark.ui.showConsoleProgress": "false"}
_RUNTIME_SQL_SETTINGS = ("spark.sql.session.timeZone", "spark.sql.parquet.outputTimestampType")


class SparkResource(LazyPySparkResource):
    """A SparkSession on `local[*]`, a standalone `spark://host:7077` master, or (later) Dataproc."""

    master: str = Field(default="local[*]", description="`local[*]`, `local[N]` or `spark://host:port`.")
    app_name: str = Field(default="taxi_platform", description="Spark application name shown in the Spark UI.")
    driver_host: str = Field(default="127.0.0.1", description="Address the driver binds and advertises.")
    python: str = Field(default=sys.executable, description="Python for executors (default: this one).")
    spark_config: dict[str, Any] = Field(default_factory=dict, description="Extra Spark settings, e.g. memory.")
    _owns_session: bool = PrivateAttr(default=False)

    def _settings(self) -> dict[str, str]:
        placement = {
            "spark.driver.host": self.driver_host,
            "spark.driver.bindAddress": self.driver_host,
            "spark.pyspark.python": self.python,
        }
        return {**_DEFAULTS, **placement, **{k: str(v) for k, v in self.spark_config.items()}, **SESSION_SETTINGS}

    def _init_session(self) -> None:
        if self._spark_session is not None:
            return
        log = get_dagster_logger()
        active = SparkSession.getActiveSession()
        if active is not None:
            # getOrCreate would silently ignore our static settings; say so and set what can be set.
            for key in _RUNTIME_SQL_SETTINGS:
                active.conf.set(key, SESSION_SETTINGS[key])
            log.warning(f"Reusing the Spark session already in this process (master {active.sparkContext.master}).")
            self._spark_session = active
            return
        builder = SparkSession.builder.master(self.master).appName(self.app_name)
        for key, value in self._settings().items():
            builder = builder.config(key, value)
        log.info(f"Starting Spark session on {self.master}")
        self._spark_session = builder.getOrCreate()
        self._owns_session = True
        log.info(f"Spark application {self._spark_session.sparkContext.applicationId} started on {self.master}")

    @property
    def application(self) -> dict[str, str]:
        """Where this run's Spark work ran, for materialization metadata."""
        context = self.spark_session.sparkContext
        return {"spark_application_id": context.applicationId, "spark_master": context.master}

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        if self._spark_session is not None and self._owns_session:
            self._spark_session.stop()
        self._spark_session = None
        self._owns_session = False
