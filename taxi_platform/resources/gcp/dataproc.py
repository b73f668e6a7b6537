"""The gcp profile's Spark: the project's job module submitted to a Dataproc cluster.

The job is `taxi_platform/spark/job.py` (the course's `spark-sql.py`) with the package it imports
zipped beside it, uploaded once per content hash so reruns reuse it and versions never clash. The
driver's output is copied into the run's log while the job runs; its last JSON line is the result.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import time
import uuid
import zipfile
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from dagster import ConfigurableResource, Failure, get_dagster_logger
from pydantic import Field

if TYPE_CHECKING:  # the client libraries take ~0.3 s to import: only a Dataproc run pays it
    from google.cloud import dataproc_v1, storage

import taxi_platform
from taxi_platform.resources.gcp.clients import client_options, storage_client
from taxi_platform.resources.gcp.uri import GsUri, is_gs_uri
from taxi_platform.resources.spark import RangeRun, SparkResource, StageRun
from taxi_platform.spark.stages import StageResult
from taxi_platform.tlc.months import TripMonth

PACKAGE_ROOT = Path(taxi_platform.__file__).resolve().parent
MAIN_FILE = PACKAGE_ROOT / "spark" / "job.py"
# What the job imports: the pure layers, never the Dagster code.
JOB_PACKAGE_PARTS = ("__init__.py", "spark", "tlc")
TERMINAL_STATES = {"DONE", "ERROR", "CANCELLED"}
ERROR_TAIL_LINES = 40
# Left out of an error's tail (they stay in the log): Spark's INFO chatter and Java stack frames.
TAIL_NOISE = re.compile(r"\d{2}/\d{2}/\d{2} \d{2}:\d{2}:\d{2} INFO |\s+at |\s+\.\.\. \d+ more")


class Log(Protocol):
    def info(self, msg: str) -> Any: ...


@dataclass(frozen=True)
class DataprocRun:
    """A finished job: the JSON summary its driver printed last, and where it ran (materialization metadata)."""

    job_id: str
    summary: dict[str, Any]
    placement: dict[str, str]


class DataprocJobFailed(RuntimeError):
    """A submitted job ended in ERROR or CANCELLED; the message carries Dataproc's and the driver's words."""

    def __init__(self, job_id: str, state: str, details: str, driver_tail: list[str]) -> None:
        self.job_id, self.state, self.details, self.driver_tail = job_id, state, details, driver_tail
        tail = "\n".join(driver_tail) or "(no driver output)"
        super().__init__(f"Dataproc job {job_id} ended in {state}: {details}\n--- driver output (tail) ---\n{tail}")


def package_zip() -> bytes:
    """The job's `taxi_platform` subset as a reproducible zip (fixed timestamps, sorted), so its hash is stable."""
    files = []
    for part in JOB_PACKAGE_PARTS:
        path = PACKAGE_ROOT / part
        files += [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file() and p.suffix == ".py"]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(files):
            name = f"taxi_platform/{path.relative_to(PACKAGE_ROOT).as_posix()}"
            archive.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), path.read_bytes())
    return buffer.getvalue()


class DriverOutput:
    """Reads Dataproc's driver output as it grows.

    Dataproc writes `{uri}.000000000`, `.000000001`, ...; an object keeps growing until the next
    one appears (the way `gcloud dataproc jobs wait` reads it).
    """

    def __init__(self, client: storage.Client, uri: str) -> None:
        output = GsUri.parse(uri)
        self.bucket_name, self.prefix = output.bucket, output.path
        self.client = client
        self.index = 0
        self.offset = 0
        self.pending = b""
        self.tail: deque[str] = deque(maxlen=ERROR_TAIL_LINES)
        self.summary: dict[str, Any] | None = None

    def _blob(self, index: int) -> storage.Blob | None:
        return self.client.bucket(self.bucket_name).get_blob(f"{self.prefix}.{index:09d}")

    def read_new_lines(self) -> list[str]:
        """Complete lines written since the last call."""
        from google.api_core.exceptions import NotFound

        chunks = []
        while True:
            following = self._blob(self.index + 1)
            current = self._blob(self.index)
            if current is not None and (current.size or 0) > self.offset:
                try:
                    data = current.download_as_bytes(start=self.offset)
                except NotFound:  # that generation was just replaced by a longer one: read it next time
                    break
                self.offset += len(data)
                chunks.append(data)
            if following is None:
                break
            self.index, self.offset = self.index + 1, 0
        text, newline, self.pending = (self.pending + b"".join(chunks)).rpartition(b"\n")
        lines = text.decode("utf-8", "replace").split("\n") if newline else []
        for line in lines:
            self._note(line)
        return lines

    def _note(self, line: str) -> None:
        if not TAIL_NOISE.match(line):
            self.tail.append(line)
        self.summary = _json_object(line) or self.summary

    def finish(self) -> list[str]:
        """The remaining lines, including a last one without a newline."""
        lines = self.read_new_lines()
        if self.pending:
            self.pending, last = b"", self.pending.decode("utf-8", "replace")
            self._note(last)
            lines.append(last)
        return lines


def _json_object(line: str) -> dict[str, Any] | None:
    if not line.startswith("{"):
        return None
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


class DataprocJobs(ConfigurableResource):
    """Runs `taxi_platform.spark.job` as a Dataproc PySpark job and returns its JSON summary."""

    project: str = Field(description="Google Cloud project of the cluster.")
    region: str = Field(description="Dataproc region, e.g. `europe-west1`.")
    cluster: str = Field(description="Name of the running Dataproc cluster.")
    code_uri: str = Field(description="`gs://bucket/prefix` where the job's code is uploaded (by content hash).")
    api_endpoint: str | None = Field(
        default=None, description="Dataproc endpoint override; default `{region}-dataproc.googleapis.com`."
    )
    storage_endpoint: str | None = Field(default=None, description="GCS emulator URL; unset = real GCS with ADC.")
    jar_uris: list[str] = Field(default_factory=list, description="Extra jars for the driver and executors.")
    properties: dict[str, str] = Field(default_factory=dict, description="Spark properties of the job.")
    poll_seconds: float = Field(default=5.0, description="Seconds between job status polls.")
    timeout_seconds: float = Field(default=3600.0, description="Cancel the job and fail after this long.")

    def job_client(self) -> dataproc_v1.JobControllerClient:
        """Regional gRPC client with ADC; REST for a URL endpoint, without credentials for a `http://` stand-in."""
        from google.cloud import dataproc_v1

        endpoint = self.api_endpoint or f"{self.region}-dataproc.googleapis.com"
        if endpoint.startswith("http://"):  # a stand-in or emulator
            return dataproc_v1.JobControllerClient(transport="rest", **client_options(endpoint))
        transport = "rest" if endpoint.startswith("https://") else None
        return dataproc_v1.JobControllerClient(transport=transport, client_options={"api_endpoint": endpoint})

    def storage_client(self) -> storage.Client:
        return storage_client(self.project, self.storage_endpoint)

    def upload_code(self, client: storage.Client) -> tuple[str, str]:
        """Uploads job.py and the package zip under `code_uri/{hash}/` unless already there."""
        main, package = MAIN_FILE.read_bytes(), package_zip()
        digest = hashlib.sha256(main + b"\0" + package).hexdigest()[:16]
        code = GsUri.parse(self.code_uri)
        bucket = client.bucket(code.bucket)
        uris = []
        for name, data, content_type in (
            ("job.py", main, "text/x-python"),
            ("taxi_platform.zip", package, "application/zip"),
        ):
            target = code.join(digest, name)
            blob = bucket.blob(target.path)
            if not blob.exists():
                blob.upload_from_string(data, content_type=content_type)
            uris.append(str(target))
        return uris[0], uris[1]

    def run_job(self, args: list[str], label: str, log: Log) -> DataprocRun:
        """Submits job.py with `args`, follows it to the end and returns its JSON summary."""
        from google.cloud import dataproc_v1

        gcs = self.storage_client()
        main_uri, package_uri = self.upload_code(gcs)
        slug = re.sub(r"[^a-z0-9-]+", "-", label.lower()).strip("-")[:50] or "job"
        request_id = uuid.uuid4().hex  # one per call: a retried submit returns the job already created
        job = dataproc_v1.Job(
            reference=dataproc_v1.JobReference(project_id=self.project, job_id=f"taxi-{slug}-{request_id[:8]}"),
            placement=dataproc_v1.JobPlacement(cluster_name=self.cluster),
            pyspark_job=dataproc_v1.PySparkJob(
                main_python_file_uri=main_uri,
                args=args,
                python_file_uris=[package_uri],
                jar_file_uris=self.jar_uris,
                properties=self.properties,
            ),
            labels={"app": "taxi-platform", "stage": slug[:63]},
        )
        client = self.job_client()
        submitted = client.submit_job(
            request=dataproc_v1.SubmitJobRequest(
                project_id=self.project, region=self.region, job=job, request_id=request_id
            )
        )
        job_id = submitted.reference.job_id
        log.info(f"Submitted Dataproc job {job_id} to cluster {self.cluster} ({self.region}): {label}")
        summary, output_uri = self._follow(client, gcs, job_id, submitted.driver_output_resource_uri, log)
        placement = {
            "dataproc_job_id": job_id,
            "dataproc_cluster": self.cluster,
            "dataproc_region": self.region,
            "dataproc_driver_output": output_uri,
        }
        return DataprocRun(job_id=job_id, summary=summary, placement=placement)

    def _follow(
        self, client: dataproc_v1.JobControllerClient, gcs: storage.Client, job_id: str, output_uri: str, log: Log
    ) -> tuple[dict[str, Any], str]:
        output = DriverOutput(gcs, output_uri) if output_uri else None
        deadline = time.monotonic() + self.timeout_seconds
        state = ""
        try:
            while True:
                job = client.get_job(project_id=self.project, region=self.region, job_id=job_id)
                if job.status.state.name != state:
                    state = job.status.state.name
                    log.info(f"Dataproc job {job_id}: {state}")
                if output is None and job.driver_output_resource_uri:
                    output = DriverOutput(gcs, job.driver_output_resource_uri)
                if state in TERMINAL_STATES:
                    break
                _log_lines(log, output.read_new_lines() if output else [])
                if time.monotonic() > deadline:
                    raise TimeoutError(f"Dataproc job {job_id} still {state} after {self.timeout_seconds:.0f} s")
                time.sleep(self.poll_seconds)
        except BaseException:
            # Interrupted, timed out or lost: do not leave the job running on the cluster.
            if state not in TERMINAL_STATES:
                try:
                    client.cancel_job(project_id=self.project, region=self.region, job_id=job_id)
                    log.info(f"Cancelled Dataproc job {job_id}")
                except Exception as error:
                    log.info(f"Could not cancel Dataproc job {job_id}: {error}")
            raise
        _log_lines(log, output.finish() if output else [])
        tail = list(output.tail) if output else []
        if state != "DONE":
            raise DataprocJobFailed(job_id, state, job.status.details, tail)
        if output is None or output.summary is None:
            raise DataprocJobFailed(job_id, state, "the driver printed no JSON summary", tail)
        return output.summary, job.driver_output_resource_uri


def _log_lines(log: Log, lines: list[str]) -> None:
    if lines:
        log.info("driver output:\n" + "\n".join(lines))


class DataprocSparkResource(SparkResource):
    """Spark for the gcp profile with a Dataproc cluster: the revenue report is a Dataproc job.

    The report reads and writes the bucket (`gs://`), so it runs on the cluster. `typed_trips` and
    `taxi_zones` parse in the run's own session, since their input, the raw file, is on the run's
    local disk; each says where it ran in its metadata (`spark_placement`).
    """

    dataproc: DataprocJobs = Field(description="The cluster the report's job is submitted to.")

    @staticmethod
    def _require_gs(paths: list[str], month: TripMonth) -> None:
        local = [path for path in paths if not is_gs_uri(path)]
        if local:
            raise Failure(
                f"{month.label}: the revenue report runs on Dataproc, which cannot read or write the local "
                f"path {local[0]}; the gcp profile keeps the bucket on GCS (TAXI_GCS_BUCKET)"
            )

    def run_revenue_report(self, trips_path: str, zones_path: str, output: str, month: TripMonth) -> StageRun:
        self._require_gs([trips_path, zones_path, output], month)
        args = ["revenue", "--color", month.color, "--month", month.yyyy_mm, "--input", trips_path,
                "--output", output, "--zones", zones_path]  # fmt: skip
        submitted = self.dataproc.run_job(args, f"revenue_report {month.label}", get_dagster_logger())
        return StageRun(
            StageResult.from_dict(submitted.summary), {"spark_placement": "dataproc", **submitted.placement}
        )

    def run_revenue_reports(self, inputs: list[tuple[TripMonth, str]], zones_path: str, output: str) -> RangeRun:
        """The months' reports as one Dataproc job (`job.py reports`)."""
        months = [month for month, _ in inputs]
        self._require_gs([path for _, path in inputs] + [zones_path, output], months[0])
        spec = [{"color": month.color, "month": month.yyyy_mm, "input": path} for month, path in inputs]
        args = ["reports", "--months", json.dumps(spec), "--zones", zones_path, "--output", output]
        label = f"revenue_report {months[0].label}..{months[-1].yyyy_mm}"
        submitted = self.dataproc.run_job(args, label, get_dagster_logger())
        results = {folder: StageResult.from_dict(values) for folder, values in submitted.summary.items()}
        return RangeRun(results, {"spark_placement": "dataproc", **submitted.placement})
