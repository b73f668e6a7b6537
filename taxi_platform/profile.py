"""The one place the environment is read: which profile to build, and which optional parts it has.

TAXI_PROFILE (`local`, `standalone` or `gcp`) is read here, at import, together with whether the
optional variables below are set. Their values reach the resources through `EnvVar`, resolved
when a run starts, so nothing secret is in the definitions. See docs/configuration.md.

TAXI_LANDING_DIR is the folder the landing sensor watches for new monthly files (`scripts/dev`: `./landing`);
on the gcp profile, TAXI_LANDING_URI=gs://bucket/prefix (optional) makes it watch that prefix instead.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from dagster import EnvVar

from taxi_platform.resources import (
    DataprocJobs,
    DuckDBWarehouse,
    LocalBucket,
    LocalLake,
    LocalLandingZone,
    SparkResource,
    TripSource,
)

PROFILES = ("local", "standalone", "gcp")


def local_resources(
    data_dir: str | Path | EnvVar,
    source_url: str | EnvVar,
    spark_config: dict[str, Any] | None = None,
    master: str | EnvVar = "local[*]",
    landing_dir: str | Path | EnvVar | None = None,
) -> dict[str, Any]:
    """A lake folder with its bucket zone and DuckDB; Spark on `local[*]` or a standalone master."""
    lake = LocalLake(root=_folder(data_dir))
    return {
        **_landing_folder(landing_dir),
        "trip_source": TripSource(base_url=source_url),
        "spark": SparkResource(master=master, spark_config=spark_config or {}),
        "lake": lake,
        "bucket": LocalBucket(lake=lake),
        "warehouse": DuckDBWarehouse(lake=lake),
    }


def gcp_resources(
    data_dir: str | Path | EnvVar,
    source_url: str | EnvVar,
    project: str | EnvVar,
    bucket: str | EnvVar,
    dataset: str | EnvVar,
    gcs_endpoint: str | EnvVar | None = None,
    bigquery_endpoint: str | EnvVar | None = None,
    master: str | EnvVar = "local[*]",
    dataproc: DataprocJobs | None = None,
    spark_config: dict[str, Any] | None = None,
    landing_dir: str | Path | EnvVar | None = None,
    landing_uri: str | EnvVar | None = None,
) -> dict[str, Any]:
    """Raw and typed files in a local lake; the bucket on GCS, the table in BigQuery.

    Spark runs in-process (`local[*]` or standalone) with the GCS connector, or, with `dataproc`,
    the stages whose data is in GCS (the report) are submitted to Dataproc. With `landing_uri`
    (`gs://bucket/prefix`) the landing zone is that prefix instead of the `landing_dir` folder.
    """
    from taxi_platform.resources.bigquery_warehouse import BigQueryWarehouse
    from taxi_platform.resources.gcp import BigQueryClient, GcsClient
    from taxi_platform.resources.gcs_bucket import GCSBucket
    from taxi_platform.resources.gcs_landing import GcsLandingZone

    gcs = GcsClient(project=project, endpoint=gcs_endpoint)
    landing = (
        _landing_folder(landing_dir) if landing_uri is None else {"landing": GcsLandingZone(gcs=gcs, uri=landing_uri)}
    )
    bigquery = BigQueryClient(project=project, endpoint=bigquery_endpoint)
    return {
        **landing,
        # A gs:// source base (the landing zone's, or TAXI_SOURCE_URL) is read through the same endpoint.
        "trip_source": TripSource(base_url=source_url, gcs_endpoint=gcs_endpoint),
        "spark": SparkResource(
            master=master,
            spark_config=spark_config or {},
            gcs_connector=True,
            gcs_endpoint=gcs_endpoint,
            gcp_project=project,
            dataproc=dataproc,
        ),
        "lake": LocalLake(root=_folder(data_dir)),
        "bucket": GCSBucket(gcs=gcs, bucket=bucket),
        "warehouse": BigQueryWarehouse(bigquery=bigquery, dataset=dataset),
    }


def _folder(path: str | Path | EnvVar) -> str | EnvVar:
    return str(path) if isinstance(path, Path) else path


def _landing_folder(landing_dir: str | Path | EnvVar | None) -> dict[str, LocalLandingZone]:
    """The local landing zone, when there is one (tests and scripts may run without a landing folder)."""
    return {} if landing_dir is None else {"landing": LocalLandingZone(root=_folder(landing_dir))}


def _optional(name: str) -> EnvVar | None:
    """An EnvVar for a variable that is set, None for one that is not (its part is off)."""
    return EnvVar(name) if os.environ.get(name) else None


def resources_for(profile: str) -> dict[str, Any]:
    if profile not in PROFILES:
        raise ValueError(f"TAXI_PROFILE={profile!r} is not available; choose one of: {', '.join(PROFILES)}")
    data_dir, source_url, landing = EnvVar("TAXI_DATA_DIR"), EnvVar("TAXI_SOURCE_URL"), EnvVar("TAXI_LANDING_DIR")
    if profile == "local":
        return local_resources(data_dir, source_url, landing_dir=landing)
    if profile == "standalone":
        return local_resources(data_dir, source_url, master=EnvVar("TAXI_SPARK_MASTER"), landing_dir=landing)
    project = EnvVar("TAXI_GCP_PROJECT")
    dataproc = None
    if _optional("TAXI_DATAPROC_CLUSTER"):
        dataproc = DataprocJobs(
            project=project,
            region=EnvVar("TAXI_DATAPROC_REGION"),
            cluster=EnvVar("TAXI_DATAPROC_CLUSTER"),
            code_uri=EnvVar("TAXI_DATAPROC_CODE_URI"),
            api_endpoint=_optional("TAXI_DATAPROC_ENDPOINT"),
            storage_endpoint=_optional("TAXI_GCS_ENDPOINT"),
        )
    return gcp_resources(
        data_dir,
        source_url,
        project=project,
        bucket=EnvVar("TAXI_GCS_BUCKET"),
        dataset=EnvVar("TAXI_BQ_DATASET"),
        gcs_endpoint=_optional("TAXI_GCS_ENDPOINT"),
        bigquery_endpoint=_optional("TAXI_BIGQUERY_ENDPOINT"),
        master=_optional("TAXI_SPARK_MASTER") or "local[*]",
        dataproc=dataproc,
        landing_dir=landing,
        landing_uri=_optional("TAXI_LANDING_URI"),
    )


def resources_from_environment() -> dict[str, Any]:
    return resources_for(os.environ.get("TAXI_PROFILE", "local"))
