"""The one place the environment is read: which profile to build, and which optional parts it has.

TAXI_PROFILE (`local`, `standalone` or `gcp`) is read here, at import, together with whether the
other variables are set. A value with a known form (the master, the source URLs) is checked here,
so a bad one fails the definitions' load with an error naming the variable. The values reach the
resources through `EnvVar`, resolved when a run starts, so nothing secret is in the definitions. A variable that is
not set takes its default below, so the local profile runs in a fresh clone with nothing set.
docs/configuration.md lists them all.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dagster import EnvVar

from taxi_platform.resources import (
    DuckDBWarehouse,
    LandingZone,
    LocalBucket,
    LocalLake,
    LocalLandingZone,
    MonthWatch,
    SparkResource,
    TripSource,
)
from taxi_platform.resources.sources import check_base_url, redact
from taxi_platform.resources.spark import check_master
from taxi_platform.resources.watch import check_start_month
from taxi_platform.tlc.months import DEFAULT_SOURCE_URL
from taxi_platform.tlc.sources import DEFAULT_SOURCES, DEFAULT_TLC_URL, source_order

if TYPE_CHECKING:
    from taxi_platform.resources.gcp.dataproc import DataprocRunner

PROFILES = ("local", "standalone", "gcp")

# What an unset variable means; relative folders are under the directory Dagster runs in.
DEFAULTS: dict[str, str] = {
    "TAXI_DATA_DIR": "data",
    "TAXI_SOURCE_URL": DEFAULT_SOURCE_URL,
    "TAXI_TLC_URL": DEFAULT_TLC_URL,
    "TAXI_SOURCES": DEFAULT_SOURCES,
    "TAXI_LANDING_DIR": "landing",
    "TAXI_SPARK_MASTER": "local[*]",
}


def local_resources(
    data_dir: str | Path | EnvVar,
    source_url: str | EnvVar,
    spark_config: dict[str, Any] | None = None,
    master: str | EnvVar = "local[*]",
    landing_dir: str | Path | EnvVar | None = None,
    tlc_url: str | EnvVar = DEFAULT_TLC_URL,
    sources: str | EnvVar = DEFAULT_SOURCES,
) -> dict[str, Any]:
    """A lake folder with its bucket zone and DuckDB; Spark on `local[*]` or a standalone master.

    Months come from the release at `source_url`, then the TLC feed at `tlc_url` (`sources` sets which, in order).
    """
    lake = LocalLake(root=_folder(data_dir))
    return {
        **_landing_folder(landing_dir),
        "trip_source": TripSource(base_url=source_url, tlc_url=tlc_url, sources=sources),
        "spark": SparkResource(master=master, spark_config=spark_config or {}),
        "lake": lake,
        "bucket": LocalBucket(lake=lake),
        "warehouse": DuckDBWarehouse(lake=lake),
    }


def gcp_resources(
    source_url: str | EnvVar,
    project: str | EnvVar,
    bucket: str | EnvVar,
    dataset: str | EnvVar,
    gcs_endpoint: str | EnvVar | None = None,
    bigquery_endpoint: str | EnvVar | None = None,
    master: str | EnvVar = "local[*]",
    dataproc: DataprocRunner | None = None,
    spark_config: dict[str, Any] | None = None,
    landing_dir: str | Path | EnvVar | None = None,
    landing_uri: str | EnvVar | None = None,
    tlc_url: str | EnvVar = DEFAULT_TLC_URL,
    sources: str | EnvVar = DEFAULT_SOURCES,
    lake_uri: str | EnvVar | None = None,
) -> dict[str, Any]:
    """The lake on GCS (`gs://{bucket}/lake/`, or `lake_uri`), the bucket on GCS, the table in BigQuery.

    Spark runs in the run's process (`local[*]` or standalone) with the GCS connector; with
    `dataproc` every Spark stage runs there instead (a cluster's jobs, or serverless batches). With
    `landing_uri` (`gs://bucket/prefix`) the landing zone is that prefix instead of the `landing_dir` folder.
    """
    from taxi_platform.resources.gcp.bucket import GCSBucket
    from taxi_platform.resources.gcp.clients import BigQueryClient, GcsClient
    from taxi_platform.resources.gcp.dataproc import DataprocSparkResource
    from taxi_platform.resources.gcp.lake import GcsLake
    from taxi_platform.resources.gcp.landing import GcsLandingZone
    from taxi_platform.resources.gcp.warehouse import BigQueryWarehouse

    gcs = GcsClient(project=project, endpoint=gcs_endpoint)
    landing = (
        _landing_folder(landing_dir) if landing_uri is None else {"landing": GcsLandingZone(gcs=gcs, uri=landing_uri)}
    )
    spark_settings: dict[str, Any] = {
        "master": master,
        "spark_config": spark_config or {},
        "gcs_connector": True,
        "gcs_endpoint": gcs_endpoint,
        "gcp_project": project,
    }
    spark = (
        SparkResource(**spark_settings)
        if dataproc is None
        else DataprocSparkResource(**spark_settings, dataproc=dataproc)
    )
    return {
        **landing,
        # A gs:// source base (the landing zone's, or TAXI_SOURCE_URL) is read through the same endpoint.
        "trip_source": TripSource(base_url=source_url, tlc_url=tlc_url, sources=sources, gcs_endpoint=gcs_endpoint),
        "spark": spark,
        "lake": GcsLake(gcs=gcs, bucket=bucket, lake_uri=lake_uri),
        "bucket": GCSBucket(gcs=gcs, bucket=bucket),
        "warehouse": BigQueryWarehouse(
            bigquery=BigQueryClient(project=project, endpoint=bigquery_endpoint), dataset=dataset
        ),
    }


def _folder(path: str | Path | EnvVar) -> str | EnvVar:
    return str(path) if isinstance(path, Path) else path


def _landing_folder(landing_dir: str | Path | EnvVar | None) -> dict[str, LandingZone]:
    """The local landing zone, when there is one (tests and scripts may run without a landing folder)."""
    return {} if landing_dir is None else {"landing": LocalLandingZone(root=_folder(landing_dir))}


def _variable(name: str) -> str:
    """The one read of the environment: a variable's value, empty when it is unset (unset and empty are alike)."""
    return os.environ.get(name, "")


def _optional(name: str) -> EnvVar | None:
    """An EnvVar for a variable that is set, None for one that is not (its part is off); a value of a known form
    is checked (`_CHECKS`), so a bad one fails the load naming the variable."""
    value = _variable(name)
    if value and name in _CHECKS:
        try:
            _CHECKS[name](value)
        except ValueError as error:
            raise BadSetting(f"{name}={redact(value)!r}: {error}") from None
    return EnvVar(name) if value else None


def _setting(name: str) -> EnvVar | str:
    """The variable when it is set, else its default (DEFAULTS)."""
    return _optional(name) or DEFAULTS[name]


class BadSetting(ValueError):
    """A variable whose value cannot work; the message names the variable and the value (credentials redacted)."""


def _gs_uri(uri: str) -> object:
    from taxi_platform.resources.gcp.uri import GsUri  # the gcp package is imported by the gcp profile only

    return GsUri.parse(uri)


_CHECKS: dict[str, Callable[[str], object]] = {
    "TAXI_SPARK_MASTER": check_master,
    "TAXI_SOURCE_URL": check_base_url,
    "TAXI_TLC_URL": check_base_url,
    "TAXI_SOURCES": source_order,
    "TAXI_SENSOR_START": check_start_month,
    "TAXI_LAKE_URI": _gs_uri,
}


def _flag(name: str) -> bool:
    """A yes/no variable: `1`, `true` or `yes` is on; unset, empty, `0`, `false` or `no` is off."""
    value = _variable(name).strip().lower()
    if value in ("", "0", "false", "no"):
        return False
    if value in ("1", "true", "yes"):
        return True
    raise ValueError(f"{name}={_variable(name)!r} is not a yes/no value; use 1 (on) or 0 (off)")


def _dataproc(project: EnvVar) -> DataprocRunner | None:
    """Where the gcp profile's report runs: a named cluster's jobs, serverless batches, or neither (in process)."""
    cluster, serverless = bool(_variable("TAXI_DATAPROC_CLUSTER")), _flag("TAXI_DATAPROC_SERVERLESS")
    if cluster and serverless:
        raise ValueError(
            "TAXI_DATAPROC_CLUSTER and TAXI_DATAPROC_SERVERLESS are both set: set TAXI_DATAPROC_CLUSTER to submit "
            "jobs to that cluster, or TAXI_DATAPROC_SERVERLESS=1 to run Dataproc Serverless batches, not both"
        )
    if not (cluster or serverless):
        return None
    from taxi_platform.resources.gcp.dataproc import DataprocBatches, DataprocJobs

    settings: dict[str, Any] = {
        "project": project,
        "region": EnvVar("TAXI_DATAPROC_REGION"),
        "code_uri": EnvVar("TAXI_DATAPROC_CODE_URI"),
        "api_endpoint": _optional("TAXI_DATAPROC_ENDPOINT"),
        "storage_endpoint": _optional("TAXI_GCS_ENDPOINT"),
    }
    return DataprocJobs(**settings, cluster=EnvVar("TAXI_DATAPROC_CLUSTER")) if cluster else DataprocBatches(**settings)


def resources_for(profile: str) -> dict[str, Any]:
    return {**_profile_resources(profile), "month_watch": MonthWatch(start=_optional("TAXI_SENSOR_START"))}


def _profile_resources(profile: str) -> dict[str, Any]:
    if profile not in PROFILES:
        raise ValueError(f"TAXI_PROFILE={profile!r} is not available; choose one of: {', '.join(PROFILES)}")
    data_dir, source_url = _setting("TAXI_DATA_DIR"), _setting("TAXI_SOURCE_URL")
    landing, master = _setting("TAXI_LANDING_DIR"), _setting("TAXI_SPARK_MASTER")
    feed: dict[str, Any] = {"tlc_url": _setting("TAXI_TLC_URL"), "sources": _setting("TAXI_SOURCES")}
    given = _variable("TAXI_SPARK_MASTER")
    if profile == "local":
        if given.startswith("spark://"):
            raise BadSetting(
                f"TAXI_SPARK_MASTER={given!r}: the local profile runs Spark in this process (local, local[N] or "
                "local[*]); for a standalone cluster set TAXI_PROFILE=standalone"
            )
        return local_resources(data_dir, source_url, master=master, landing_dir=landing, **feed)
    if profile == "standalone":
        if not given.startswith("spark://"):
            raise BadSetting(
                f"TAXI_PROFILE=standalone needs TAXI_SPARK_MASTER=spark://host:port (the cluster's master), "
                f"not {given!r}; local[*] is the local profile"
            )
        return local_resources(data_dir, source_url, master=master, landing_dir=landing, **feed)
    project = EnvVar("TAXI_GCP_PROJECT")
    return gcp_resources(
        source_url,
        project=project,
        bucket=EnvVar("TAXI_GCS_BUCKET"),
        dataset=EnvVar("TAXI_BQ_DATASET"),
        gcs_endpoint=_optional("TAXI_GCS_ENDPOINT"),
        bigquery_endpoint=_optional("TAXI_BIGQUERY_ENDPOINT"),
        master=master,
        dataproc=_dataproc(project),
        landing_dir=landing,
        landing_uri=_optional("TAXI_LANDING_URI"),
        lake_uri=_optional("TAXI_LAKE_URI"),
        **feed,
    )


def resources_from_environment() -> dict[str, Any]:
    return resources_for(_variable("TAXI_PROFILE") or "local")
