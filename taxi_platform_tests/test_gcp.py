"""The gcp profile end to end: the real client libraries against the GCS and BigQuery emulators.

`dagster asset materialize` runs with TAXI_PROFILE=gcp, as a user would, so each run is a fresh
process whose Spark session has the GCS connector: the report is computed from the bucket's
`gs://` copy and written back to the bucket, and BigQuery gets it through a load job and a MERGE.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from dagster import materialize
from google.cloud import bigquery, storage

from taxi_platform.assets import trip_assets
from taxi_platform.partitions import partition_key
from taxi_platform.profile import gcp_resources
from taxi_platform.resources.gcp.clients import BigQueryClient
from taxi_platform.resources.gcp.dataproc import DataprocJobs
from taxi_platform.resources.gcp.uri import GsUri
from taxi_platform.resources.gcp.warehouse import BigQueryWarehouse
from taxi_platform.spark.gcs import gcs_connector_jar
from taxi_platform.tlc import TripMonth
from taxi_platform_tests.support.cli import gcp_env, latest_metadata, materialize_cli
from taxi_platform_tests.support.data import GREEN_CSV, GREEN_PARQUET, TEST_SPARK_CONFIG, ZONE_LOOKUP
from taxi_platform_tests.support.dataproc_standin import DataprocStandIn
from taxi_platform_tests.support.emulators import unique_name
from taxi_platform_tests.support.oracle import assert_same_report, course_csv, duckdb_revenue, with_zone_names
from taxi_platform_tests.support.warehouses import assert_refuses_a_report_of_another_month
from taxi_platform_tests.support.zones import materialize_zones_on_gcp

MONTHS = [TripMonth.parse("green", "2021-01"), TripMonth.parse("yellow", "2021-01")]
FEED_MONTH = TripMonth.parse("green", "2024-01")  # the release lacks it: from the TLC feed (the real parquet)


def partition(month: TripMonth) -> str:
    return str(partition_key(month))


@pytest.fixture
def gcp(tmp_path, mirror, gcs_emulator, bigquery_emulator):
    env = gcp_env(tmp_path, mirror.url, gcs_emulator, bigquery_emulator)
    return env, gcs_emulator.client(env["TAXI_GCP_PROJECT"]).bucket(env["TAXI_GCS_BUCKET"]), bigquery_emulator.client()


def objects(bucket: storage.Bucket, prefix: str) -> dict[str, str]:
    """name -> md5 (base64, as GCS reports it) of the objects under a prefix (not the connector's folder markers)."""
    listed = bucket.client.list_blobs(bucket, prefix=f"{prefix}/")
    return {b.name[len(prefix) + 1 :]: b.md5_hash for b in listed if not b.name.endswith("/")}


def data_files(bucket: storage.Bucket, prefix: str) -> dict[str, str]:
    """`objects` without the markers and records (`_SUCCESS`): what a reader of the zone reads."""
    return {name: md5 for name, md5 in objects(bucket, prefix).items() if not name.startswith("_")}


def lake_version(env: dict[str, str], month: TripMonth) -> str:
    """The prefix of a typed partition's current lake version, as its materialization's `uri` names it."""
    return GsUri.parse(latest_metadata(env["DAGSTER_HOME"], "typed_trips", partition(month))["uri"].value).path


def report_in_bucket(bucket: storage.Bucket, month: TripMonth, folder: Path) -> list[dict]:
    folder.mkdir(parents=True)
    for blob in bucket.client.list_blobs(bucket, prefix=f"{month.report_path}/"):
        if blob.name.endswith(".parquet"):
            blob.download_to_filename(str(folder / Path(blob.name).name))
    return pq.read_table(str(folder)).to_pylist()


def warehouse_rows(bq: bigquery.Client, dataset: str, month: TripMonth | None = None) -> list[dict]:
    where = f"WHERE service_type = '{month.color}' AND revenue_month = DATE '{month.month}'" if month else ""
    return [dict(row.items()) for row in bq.query(f"SELECT * FROM `{bq.project}.{dataset}.revenue` {where}").result()]


def oracle(month: TripMonth, tmp_path: Path) -> list[dict]:
    source = GREEN_PARQUET if month == FEED_MONTH else course_csv(month.color, tmp_path)
    return with_zone_names(duckdb_revenue(source, month.color, month.yyyy_mm))


def test_gcp_profile_bucket_report_and_bigquery(gcp, tmp_path):
    env, bucket, bq = gcp
    dataset = env["TAXI_BQ_DATASET"]
    for month in [*MONTHS, FEED_MONTH]:
        # The first run selects everything, as the README's command does: taxi_zones comes in the same run.
        output = materialize_cli(env, "*" if month == MONTHS[0] else "raw_trips*", partition(month))
        assert objects(bucket, "zones").keys() >= {"_SUCCESS"}, "taxi_zones published to the bucket"
        # The checks read the bucket and BigQuery back too.
        for check in ("total_matches_typed_trips' on 'revenue_report", "slice_matches_report' on 'bigquery_revenue"):
            assert f"Asset check '{check}' passed" in output, check

    assert latest_metadata(env["DAGSTER_HOME"], "raw_trips", partition(FEED_MONTH))["format"].value == "parquet"
    for month in [*MONTHS, FEED_MONTH]:
        # The bucket holds exactly the lake's current version: same names, same bytes (copied in GCS), and a marker
        # that holds the record of what was published.
        assert data_files(bucket, month.typed_path) == data_files(bucket, lake_version(env, month))
        assert "_SUCCESS" in objects(bucket, month.typed_path)
        # The report was written to gs:// by Spark and equals the course SQL on the same CSV.
        report = report_in_bucket(bucket, month, tmp_path / f"report-{month.color}-{month.yyyy_mm}")
        assert_same_report(report, oracle(month, tmp_path))
        # BigQuery's slice equals the report.
        assert_same_report(warehouse_rows(bq, dataset, month), report)

    table = bq.get_table(f"{bq.project}.{dataset}.revenue")
    assert table.time_partitioning.type_ == "MONTH" and table.time_partitioning.field == "revenue_month"
    assert table.clustering_fields == ["service_type"]

    report_meta = latest_metadata(env["DAGSTER_HOME"], "revenue_report", partition(MONTHS[0]))
    assert report_meta["source"].value == f"gs://{bucket.name}/{MONTHS[0].typed_path}"
    assert report_meta["uri"].value == f"gs://{bucket.name}/{MONTHS[0].report_path}"

    # BigQuery read the report where it is: one load job of the report's gs:// files, none uploaded.
    for month in MONTHS:
        load_job = latest_metadata(env["DAGSTER_HOME"], "bigquery_revenue", partition(month))["load_job"].value
        names = [name for name in objects(bucket, month.report_path) if name.endswith(".parquet")]
        files = [f"gs://{bucket.name}/{month.report_path}/{name}" for name in names]
        assert sorted(bq.get_job(load_job).source_uris) == sorted(files) and files

    # A rerun of the whole chain on an unchanged month: nothing is typed again, the bucket keeps its
    # objects, and the warehouse holds the same rows, once.
    before = warehouse_rows(bq, dataset)
    old_parts = objects(bucket, MONTHS[0].typed_path)
    materialize_cli(env, "raw_trips*", partition(MONTHS[0]))
    new_parts = objects(bucket, MONTHS[0].typed_path)
    assert new_parts == old_parts
    assert data_files(bucket, MONTHS[0].typed_path) == data_files(bucket, lake_version(env, MONTHS[0]))
    assert latest_metadata(env["DAGSTER_HOME"], "typed_trips", partition(MONTHS[0]))["unchanged"].value is True
    assert_same_report(warehouse_rows(bq, dataset), before)

    # Publishing an unchanged partition uploads nothing.
    materialize_cli(env, "gcs_trips", partition(MONTHS[0]))
    assert latest_metadata(env["DAGSTER_HOME"], "gcs_trips", partition(MONTHS[0]))["changed"].value is False
    assert objects(bucket, MONTHS[0].typed_path) == new_parts


def report_uploaded(spark, gcs_emulator, folder: Path, month: TripMonth) -> list[str]:
    """The course report of a committed month, written by Spark to `folder` and uploaded: its gs:// files."""
    from taxi_platform.spark.stages import write_revenue_report, write_taxi_zones, write_typed_trips

    write_typed_trips(spark, str(GREEN_CSV), str(folder / "pq"), month)
    write_taxi_zones(spark, str(ZONE_LOOKUP), str(folder / "zones"))
    write_revenue_report(spark, str(folder / "pq"), str(folder / "zones"), str(folder / "report"), month)
    bucket = gcs_emulator.client().bucket(gcs_emulator.create_bucket(unique_name("report")))
    uris = []
    for path in sorted((folder / "report").glob("*.parquet")):
        bucket.blob(f"{month.report_path}/{path.name}").upload_from_filename(str(path))
        uris.append(f"gs://{bucket.name}/{month.report_path}/{path.name}")
    return uris


def emulated_warehouse(bigquery_emulator, prefix: str) -> BigQueryWarehouse:
    return BigQueryWarehouse(
        bigquery=BigQueryClient(project=bigquery_emulator.project, endpoint=bigquery_emulator.endpoint),
        dataset=unique_name(prefix, "_"),
    )


def test_concurrent_slice_replaces_never_duplicate(bigquery_emulator, gcs_emulator, tmp_path, spark):
    """Two loads of the same slice at once, plus another slice: each slice ends with the report's rows once."""
    month = MONTHS[0]
    uris = report_uploaded(spark, gcs_emulator, tmp_path, month)
    report = pq.read_table(str(tmp_path / "report")).to_pylist()
    warehouse = emulated_warehouse(bigquery_emulator, "concurrent")
    warehouse.replace_revenue(uris, month, "{}", "test")
    errors: list[BaseException] = []

    def load() -> None:
        try:
            warehouse.replace_revenue(uris, month, "{}", "test")
        except BaseException as error:  # surfaced below
            errors.append(error)

    threads = [threading.Thread(target=load) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    with warehouse.bigquery.get_client() as client:
        rows = [
            dict(r.items())
            for r in client.query(f"SELECT * FROM `{client.project}.{warehouse.dataset}.revenue`").result()
        ]
    assert_same_report(rows, report)


def test_a_report_of_another_month_is_refused_and_the_slice_kept(bigquery_emulator, gcs_emulator, tmp_path, spark):
    """A report with rows of another month is refused: the slices and the record of loads as they were."""
    uris = report_uploaded(spark, gcs_emulator, tmp_path, MONTHS[0])
    assert_refuses_a_report_of_another_month(emulated_warehouse(bigquery_emulator, "strays"), uris, MONTHS[0])


def test_dataproc_mode_submits_the_report_job(tmp_path, mirror, gcs_emulator, bigquery_emulator):
    """The chain on gcp resources with a Dataproc cluster named: the report stage becomes a job
    submitted through google-cloud-dataproc to a loopback stand-in that runs it with spark-submit."""
    month = MONTHS[0]
    bucket, staging = (gcs_emulator.create_bucket(unique_name(prefix)) for prefix in ("taxi", "dataproc"))
    project = bigquery_emulator.project
    gcs = gcs_emulator.client(project)
    jar = f"gs://{bucket}/jars/{Path(gcs_connector_jar()).name}"
    gcs.bucket(bucket).blob(jar.split("/", 3)[3]).upload_from_filename(gcs_connector_jar())
    with DataprocStandIn(gcs_emulator.endpoint, staging, cluster="taxi-cluster", project=project) as standin:
        dataproc = DataprocJobs(
            project=project, region="europe-west1", cluster="taxi-cluster", code_uri=f"gs://{bucket}/code",
            api_endpoint=standin.url, storage_endpoint=gcs_emulator.endpoint, jar_uris=[jar],
            properties={"spark.ui.enabled": "false"}, poll_seconds=0.5,
        )  # fmt: skip
        settings = dict(
            source_url=mirror.url, project=project, bucket=bucket,
            dataset=unique_name("dataproc", "_"), gcs_endpoint=gcs_emulator.endpoint,
            bigquery_endpoint=bigquery_emulator.endpoint, spark_config=TEST_SPARK_CONFIG, tlc_url=mirror.url,
        )  # fmt: skip
        materialize_zones_on_gcp(**settings)  # in-process gs:// writes need a JVM started with the GCS connector
        resources = gcp_resources(**settings, dataproc=dataproc)
        result = materialize(trip_assets, resources=resources, partition_key=partition_key(month))
    assert result.success

    # Every Spark stage left this machine: the typed trips' job, then the report's.
    typed, submitted = [s["body"]["job"] for s in standin.submissions]
    typed_args = typed["pysparkJob"]["args"]
    assert typed_args[:5] == ["typed", "--color", "green", "--month", "2021-01"]
    raw = f"gs://{bucket}/lake/{month.raw_path_of('csv.gz')}"
    assert typed_args[5:7] == ["--input", raw], "the raw file read where raw_trips put it, in the lake on GCS"
    assert typed_args[8].startswith(f"gs://{bucket}/lake/_versions/{month.typed_path}/v-")
    typed_meta = result.asset_materializations_for_node("typed_trips")[0].metadata
    assert typed_meta["spark_placement"].value == "dataproc"
    assert typed_meta["dataproc_job_id"].value == typed["reference"]["jobId"]
    job = submitted["pysparkJob"]
    assert job["mainPythonFileUri"].startswith(f"gs://{bucket}/code/") and job["mainPythonFileUri"].endswith("/job.py")
    assert job["pythonFileUris"] == [job["mainPythonFileUri"].removesuffix("job.py") + "taxi_platform.zip"]
    assert job["jarFileUris"] == [jar]
    assert job["args"][:7] == [
        "revenue",
        "--color",
        "green",
        "--month",
        "2021-01",
        "--input",
        f"gs://{bucket}/{month.typed_path}",
    ]
    assert job["args"][7] == "--output" and job["args"][8].startswith(f"gs://{bucket}/_staging/{month.report_path}/")
    assert job["args"][9:] == ["--zones", f"gs://{bucket}/zones"], "the zones the broadcast join reads"

    report_meta = result.asset_materializations_for_node("revenue_report")[0].metadata
    assert report_meta["dataproc_job_id"].value == submitted["reference"]["jobId"]
    report = report_in_bucket(gcs.bucket(bucket), month, tmp_path / "report")
    assert_same_report(report, oracle(month, tmp_path))
    assert not list(gcs.list_blobs(bucket, prefix="_staging/")), "the job's staging output is cleaned up"
    loaded = result.asset_materializations_for_node("bigquery_revenue")[0].metadata
    assert loaded["dagster/row_count"].value == len(report)
