"""Dataproc mode end to end: the real google-cloud-dataproc client against a stand-in that runs the job.

The stand-in (`support/dataproc_standin.py`) answers the Dataproc Jobs and Batches REST APIs and executes
each submitted job or created batch with `spark-submit`, reading its code and data from the GCS emulator
and writing driver output there as Dataproc does; the resources under test only see the API and the bucket.
"""

from __future__ import annotations

import io
import math
import zipfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from google.api_core.exceptions import GoogleAPICallError
from google.cloud import dataproc_v1, storage

from taxi_platform.resources.gcp.dataproc import (
    DataprocBatches,
    DataprocFailed,
    DataprocJobFailed,
    DataprocJobs,
    DataprocRunner,
    DriverOutput,
)
from taxi_platform_tests.support.data import GREEN_CSV, ZONE_LOOKUP
from taxi_platform_tests.support.dataproc_standin import DataprocStandIn
from taxi_platform_tests.support.emulators import GcsEmulator
from taxi_platform_tests.support.oracle import duckdb_revenue, trips_in, with_zone_names

REGION = "europe-west1"
BUCKET = "taxi-lake"
STAGING = "dataproc-staging"
PROJECT = "taxi-platform-test"
CLUSTER = "taxi-cluster"
CODE_URI = f"gs://{BUCKET}/code/dataproc"
JAR = f"gs://{BUCKET}/jars/marker.jar"
GREEN = ["--color", "green", "--month", "2021-01"]


class ListLog:
    """Stands in for `context.log`: keeps what the resource logs."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def info(self, msg: str) -> None:
        self.messages.append(msg)

    @property
    def text(self) -> str:
        return "\n".join(self.messages)


@pytest.fixture(scope="module")
def gcs_emulator():
    with GcsEmulator() as emulator:
        yield emulator


@pytest.fixture(scope="module")
def gcs(gcs_emulator: GcsEmulator) -> storage.Client:
    for bucket in (BUCKET, STAGING):
        gcs_emulator.create_bucket(bucket)
    client = gcs_emulator.client(PROJECT)
    client.bucket(BUCKET).blob("raw/green/2021/01/green_tripdata_2021_01.csv.gz").upload_from_filename(GREEN_CSV)
    client.bucket(BUCKET).blob("raw/zones/taxi_zone_lookup.csv").upload_from_filename(ZONE_LOOKUP)
    # Any jar the job asks for must be fetched from gs:// onto the classpath; an empty one will do.
    jar = io.BytesIO()
    with zipfile.ZipFile(jar, "w") as archive:
        archive.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\n")
    client.bucket(BUCKET).blob("jars/marker.jar").upload_from_string(jar.getvalue())
    return client


@pytest.fixture(scope="module")
def standin(gcs_emulator: GcsEmulator, gcs: storage.Client):
    # Small driver-output objects, so following the job crosses from one object to the next.
    with DataprocStandIn(gcs_emulator.endpoint, STAGING, cluster=CLUSTER, output_chunk_bytes=16_384) as server:
        yield server


def dataproc_runner(
    kind: str, standin: DataprocStandIn, gcs_emulator: GcsEmulator, timeout_seconds: float = 300
) -> DataprocRunner:
    """A cluster's jobs (`kind="job"`) or serverless batches (`"batch"`), both against the stand-in."""
    settings = dict(
        project=PROJECT,
        region=REGION,
        code_uri=CODE_URI,
        api_endpoint=standin.url,
        storage_endpoint=gcs_emulator.endpoint,
        jar_uris=[JAR],
        properties={"spark.ui.enabled": "false", "spark.driver.memory": "1g"},
        poll_seconds=0.5,
        timeout_seconds=timeout_seconds,
    )
    return DataprocJobs(**settings, cluster=CLUSTER) if kind == "job" else DataprocBatches(**settings)


@pytest.fixture
def dataproc(standin: DataprocStandIn, gcs_emulator: GcsEmulator) -> DataprocJobs:
    return dataproc_runner("job", standin, gcs_emulator)


@pytest.fixture
def serverless(standin: DataprocStandIn, gcs_emulator: GcsEmulator) -> DataprocBatches:
    return dataproc_runner("batch", standin, gcs_emulator)


def blob_names(gcs: storage.Client, prefix: str) -> list[str]:
    return sorted(blob.name for blob in gcs.list_blobs(BUCKET, prefix=prefix))


def read_parquet(gcs: storage.Client, prefix: str, folder: Path) -> list[dict]:
    folder.mkdir()
    for blob in gcs.list_blobs(BUCKET, prefix=prefix):
        if blob.name.endswith(".parquet"):
            blob.download_to_filename(folder / blob.name.rsplit("/", 1)[-1])
    return pq.read_table(folder).to_pylist()


def test_typed_then_revenue_run_on_dataproc(dataproc, standin, gcs, tmp_path):
    typed_args = ["typed", *GREEN, "--input", f"gs://{BUCKET}/raw/green/2021/01/green_tripdata_2021_01.csv.gz",
                  "--output", f"gs://{BUCKET}/pq/green/2021/01"]  # fmt: skip
    zones_args = [
        "zones",
        "--input",
        f"gs://{BUCKET}/raw/zones/taxi_zone_lookup.csv",
        "--output",
        f"gs://{BUCKET}/zones",
    ]
    revenue_args = ["revenue", *GREEN, "--input", f"gs://{BUCKET}/pq/green/2021/01",
                    "--output", f"gs://{BUCKET}/report/revenue/green/2021/01",
                    "--zones", f"gs://{BUCKET}/zones"]  # fmt: skip
    before = len(standin.submissions)
    log = ListLog()

    typed = dataproc.run_job(typed_args, "typed green 2021-01", log).summary
    code = {blob.name: blob.generation for blob in gcs.list_blobs(BUCKET, prefix="code/")}
    zones = dataproc.run_job(zones_args, "taxi zones", log).summary
    run = dataproc.run_job(revenue_args, "revenue green 2021-01", log)
    report = run.summary

    # What reached the Dataproc API, as the client put it on the wire.
    first, _, second = (s["body"] for s in standin.submissions[before:])
    for body, args in ((first, typed_args), (second, revenue_args)):
        job = body["job"]
        assert job["placement"] == {"clusterName": CLUSTER}
        assert job["pysparkJob"]["args"] == args
        assert job["pysparkJob"]["mainPythonFileUri"].startswith(CODE_URI + "/")
        assert job["pysparkJob"]["mainPythonFileUri"].endswith("/job.py")
        assert job["pysparkJob"]["pythonFileUris"] == [job["pysparkJob"]["mainPythonFileUri"][: -len("job.py")]
                                                       + "taxi_platform.zip"]  # fmt: skip
        assert job["pysparkJob"]["jarFileUris"] == [JAR]
        assert job["pysparkJob"]["properties"]["spark.ui.enabled"] == "false"
        assert job["labels"]["app"] == "taxi-platform"
        assert len(body["requestId"]) <= 40
    assert first["job"]["labels"]["stage"] == "typed-green-2021-01"
    assert first["requestId"] != second["requestId"]
    # The code is uploaded once per content hash: the second run reused the same objects.
    assert first["job"]["pysparkJob"]["mainPythonFileUri"] == second["job"]["pysparkJob"]["mainPythonFileUri"]
    assert {b.name: b.generation for b in gcs.list_blobs(BUCKET, prefix="code/")} == code
    assert len(code) == 2
    package = gcs.bucket(BUCKET).blob(next(name for name in code if name.endswith(".zip"))).download_as_bytes()
    names = zipfile.ZipFile(io.BytesIO(package)).namelist()
    assert "taxi_platform/__init__.py" in names and "taxi_platform/spark/job.py" in names
    assert "taxi_platform/tlc/schemas.py" in names
    assert not [n for n in names if n.split("/")[1] not in ("__init__.py", "spark", "tlc")], "no Dagster code"

    # The job really ran: its outputs are in the bucket and its summary came back through the driver output.
    assert typed["rows"] == trips_in(GREEN_CSV)
    assert zones["rows"] == 265
    pq_objects = blob_names(gcs, "pq/green/2021/01/")
    assert "pq/green/2021/01/_SUCCESS" in pq_objects
    # A gs:// gzip is read whole in one task and written without a shuffle: one file per task.
    assert len([n for n in pq_objects if n.endswith(".parquet")]) == 1
    assert "report/revenue/green/2021/01/_SUCCESS" in blob_names(gcs, "report/revenue/green/2021/01/")
    rows = read_parquet(gcs, "report/revenue/green/2021/01/", tmp_path / "report")
    oracle = with_zone_names(duckdb_revenue(GREEN_CSV, "green", "2021-01"))
    assert report["rows"] == len(rows) == len(oracle) > 100
    ours, theirs = (sum(r["revenue_monthly_total_amount"] for r in table) for table in (rows, oracle))
    assert math.isclose(ours, theirs, rel_tol=1e-9)
    names = ("borough", "zone", "service_zone")
    assert sorted((r["revenue_zone"], *(r[n] for n in names)) for r in rows) == sorted(
        (r["revenue_zone"], *(r[n] for n in names)) for r in oracle
    ), "the broadcast join ran in the submitted job"

    # Followed like `gcloud dataproc jobs wait`: states and the driver's output, across output objects.
    job_id = standin.submissions[-1]["body"]["job"]["reference"]["jobId"]
    assert run.job_id == run.placement["dataproc_job_id"] == job_id
    assert run.placement["dataproc_cluster"] == CLUSTER
    assert f"Dataproc job {job_id}: DONE" in log.text
    assert f'"rows": {trips_in(GREEN_CSV)}' in log.text
    job = dataproc.job_client().get_job(project_id=PROJECT, region=REGION, job_id=job_id)
    assert job.status.state == dataproc_v1.JobStatus.State.DONE and job.done
    assert [s.state.name for s in job.status_history] == ["PENDING", "SETUP_DONE", "RUNNING"]
    output = job.driver_output_resource_uri
    assert output == run.placement["dataproc_driver_output"]
    assert output.startswith(f"gs://{STAGING}/google-cloud-dataproc-metainfo/{standin.cluster_uuid}/jobs/{job_id}/")
    chunks = list(gcs.list_blobs(STAGING, prefix=output.removeprefix(f"gs://{STAGING}/")))
    assert len(chunks) > 1 and chunks[0].name.endswith("driveroutput.000000000")


MISSING = f"gs://{BUCKET}/pq/green/1999/01"
MISSING_ARGS = ["revenue", "--color", "green", "--month", "1999-01", "--input", MISSING,
                "--output", f"gs://{BUCKET}/x", "--zones", f"gs://{BUCKET}/zones"]  # fmt: skip


def test_failed_job_raises_with_the_drivers_error(dataproc, standin):
    with pytest.raises(DataprocJobFailed) as failed:
        dataproc.run_job(MISSING_ARGS, "revenue green 1999-01", ListLog())
    job_id = standin.submissions[-1]["body"]["job"]["reference"]["jobId"]
    message = str(failed.value)
    assert failed.value.job_id == job_id and job_id in message
    assert "ERROR" in message and "Job failed with message [" in message
    assert f"Path does not exist: {MISSING}" in failed.value.details, "Dataproc's status.details"
    assert "Traceback" in message, "the tail of the driver output"


def test_a_batch_runs_the_job_serverless(serverless, standin, gcs):
    """The same job.py as a Dataproc Serverless batch: created through the batches API, followed to SUCCEEDED."""
    args = ["zones", "--input", f"gs://{BUCKET}/raw/zones/taxi_zone_lookup.csv",
            "--output", f"gs://{BUCKET}/serverless/zones"]  # fmt: skip
    log = ListLog()
    before = len(standin.submissions)
    run = serverless.run_job(args, "taxi zones", log)

    assert run.summary["rows"] == 265
    assert "serverless/zones/_SUCCESS" in blob_names(gcs, "serverless/zones/")
    assert len(standin.submissions) == before, "no cluster job"
    # What reached the batches API, as the client put it on the wire.
    created = standin.batch_submissions[-1]
    batch_id = created["query"]["batchId"][0]
    assert run.job_id == batch_id and batch_id.startswith("taxi-taxi-zones-") and len(batch_id) <= 63
    assert len(created["query"]["requestId"][0]) <= 40
    body = created["body"]
    assert body["pysparkBatch"]["args"] == args
    main = body["pysparkBatch"]["mainPythonFileUri"]
    assert main.startswith(CODE_URI + "/") and main.endswith("/job.py")
    assert body["pysparkBatch"]["pythonFileUris"] == [main.removesuffix("job.py") + "taxi_platform.zip"]
    assert body["pysparkBatch"]["jarFileUris"] == [JAR]
    assert body["runtimeConfig"]["properties"]["spark.ui.enabled"] == "false"
    assert body["labels"] == {"app": "taxi-platform", "stage": "taxi-zones"}

    client = serverless.batch_client()
    name = f"projects/{PROJECT}/locations/{REGION}/batches/{batch_id}"
    batch = client.get_batch(name=name)
    assert batch.state == dataproc_v1.Batch.State.SUCCEEDED
    assert [h.state.name for h in batch.state_history] == ["PENDING", "RUNNING"]
    assert run.placement == {
        "spark_placement": "dataproc_serverless",
        "dataproc_batch_id": batch_id,
        "dataproc_region": REGION,
        "dataproc_driver_output": batch.runtime_info.output_uri,
    }
    assert batch.runtime_info.output_uri.startswith(f"gs://{STAGING}/google-cloud-dataproc-metainfo/{batch.uuid}/")
    assert f"Dataproc batch {batch_id}: SUCCEEDED" in log.text
    assert '"rows": 265' in log.text, "the driver's output, read from runtime_info.output_uri"
    assert name in [b.name for b in client.list_batches(parent=f"projects/{PROJECT}/locations/{REGION}")]


def test_a_failed_batch_raises_naming_the_batch_and_the_drivers_error(serverless, standin):
    with pytest.raises(DataprocFailed) as failed:
        serverless.run_job(MISSING_ARGS, "revenue green 1999-01", ListLog())
    batch_id = standin.batch_submissions[-1]["query"]["batchId"][0]
    first_line = str(failed.value).splitlines()[0]
    assert failed.value.run_id == batch_id
    assert first_line.startswith(f"Dataproc batch {batch_id} ended in FAILED: ")
    assert f"Path does not exist: {MISSING}" in first_line, "the driver's error line"
    assert "Traceback" in str(failed.value), "the tail of the driver output"


def test_a_failure_whose_status_does_not_quote_the_driver_names_its_error_line_first():
    """Dataproc's state message may be generic ("Batch failed"): the first line still names the driver's error."""
    tail = ["Traceback (most recent call last):", '  File "job.py", line 1, in <module>', "ValueError: no such month"]
    first = str(DataprocFailed("batch", "taxi-b-1", "FAILED", "Batch failed", tail)).splitlines()[0]
    assert first == "Dataproc batch taxi-b-1 ended in FAILED: Batch failed (driver: ValueError: no such month)"


@pytest.mark.parametrize("kind", ["job", "batch"])
def test_timeout_cancels_the_job(kind, standin, gcs_emulator):
    """Past its timeout a job is cancelled (`jobs.cancel`), a batch too (its operation's `cancel`)."""
    impatient = dataproc_runner(kind, standin, gcs_emulator, timeout_seconds=1.0)
    args = ["typed", *GREEN, "--input", f"gs://{BUCKET}/raw/green/2021/01/green_tripdata_2021_01.csv.gz",
            "--output", f"gs://{BUCKET}/never"]  # fmt: skip
    log = ListLog()
    with pytest.raises(TimeoutError, match="still"):
        impatient.run_job(args, "typed green 2021-01", log)
    standin.wait()
    if kind == "job":
        run_id = standin.submissions[-1]["body"]["job"]["reference"]["jobId"]
        assert standin.jobs[run_id].job.status.state == dataproc_v1.JobStatus.State.CANCELLED
    else:
        run_id = standin.batch_submissions[-1]["query"]["batchId"][0]
        assert standin.batches[run_id].batch.state == dataproc_v1.Batch.State.CANCELLED
    assert f"Cancelled Dataproc {kind} {run_id}" in log.text


def test_a_retried_submit_returns_the_first_job(dataproc, standin):
    """Same request id twice (what the client's retry does): one job, as on Dataproc."""
    request = dataproc_v1.SubmitJobRequest(
        project_id=PROJECT,
        region=REGION,
        request_id="retried-request",
        job=dataproc_v1.Job(
            placement=dataproc_v1.JobPlacement(cluster_name=CLUSTER),
            pyspark_job=dataproc_v1.PySparkJob(main_python_file_uri=f"gs://{BUCKET}/code/missing.py"),
        ),
    )
    client = dataproc.job_client()
    first, again = client.submit_job(request=request), client.submit_job(request=request)
    assert first.reference.job_id == again.reference.job_id
    assert sum(1 for entry in standin.jobs.values() if entry.request_id == "retried-request") == 1
    standin.wait()
    failed = client.get_job(project_id=PROJECT, region=REGION, job_id=first.reference.job_id)
    assert failed.status.state == dataproc_v1.JobStatus.State.ERROR
    assert "missing.py" in failed.status.details


def test_a_retried_create_returns_the_first_batchs_operation(serverless, standin):
    """Same request id twice: one batch and one operation, which ends with the batch's failure."""
    request = dataproc_v1.CreateBatchRequest(
        parent=f"projects/{PROJECT}/locations/{REGION}",
        batch_id="retried-batch",
        request_id="retried-batch-request",
        batch=dataproc_v1.Batch(
            pyspark_batch=dataproc_v1.PySparkBatch(main_python_file_uri=f"gs://{BUCKET}/code/missing.py")
        ),
    )
    client = serverless.batch_client()
    first, again = client.create_batch(request=request), client.create_batch(request=request)
    assert first.operation.name == again.operation.name
    assert first.metadata.batch == f"projects/{PROJECT}/locations/{REGION}/batches/retried-batch"
    assert sum(1 for entry in standin.batches.values() if entry.request_id == "retried-batch-request") == 1
    with pytest.raises(GoogleAPICallError, match=r"missing\.py"):
        first.result(timeout=60)  # the operation, polled through the operations API
    failed = client.get_batch(name=first.metadata.batch)
    assert failed.state == dataproc_v1.Batch.State.FAILED and "missing.py" in failed.state_message
    client.delete_batch(name=failed.name)
    assert "retried-batch" not in standin.batches


def test_driver_output_is_read_as_it_grows_across_objects(gcs):
    """Objects are rewritten longer until the next one appears; lines may straddle two objects."""
    bucket = gcs.bucket(STAGING)
    prefix = "google-cloud-dataproc-metainfo/c/jobs/j/driveroutput"
    output = DriverOutput(gcs, f"gs://{STAGING}/{prefix}")
    assert output.read_new_lines() == []
    bucket.blob(f"{prefix}.000000000").upload_from_string(b"starting\nhal")
    assert output.read_new_lines() == ["starting"]
    bucket.blob(f"{prefix}.000000000").upload_from_string(b'starting\nhalf a line, {"not": "json"\n{"rows": 1}\nstrad')
    assert output.read_new_lines() == ['half a line, {"not": "json"', '{"rows": 1}']
    bucket.blob(f"{prefix}.000000001").upload_from_string("dle naïve é".encode()[:-1])  # cut inside a character
    assert output.read_new_lines() == []
    bucket.blob(f"{prefix}.000000001").upload_from_string('dle naïve é\n{"rows": 2}'.encode())
    assert output.read_new_lines() == ["straddle naïve é"]
    assert output.finish() == ['{"rows": 2}']
    assert output.summary == {"rows": 2}
