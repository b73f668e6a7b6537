"""The gcp profile's Spark: the project's job module run on Dataproc, on a cluster or as a serverless batch.

The job is `taxi_platform/spark/job.py` (the course's `spark-sql.py`) with the package it imports
zipped beside it, uploaded once per content hash so reruns reuse it and versions never clash. It is
submitted as a job to a named cluster (`DataprocJobs`) or created as a Dataproc Serverless batch
(`DataprocBatches`); either way the driver's output is copied into the run's log while it runs, and
its last JSON line is the result.
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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from dagster import ConfigurableResource, Failure, InitResourceContext, get_dagster_logger
from pydantic import Field

if TYPE_CHECKING:  # the client libraries take ~0.3 s to import: only a Dataproc run pays it
    from google.cloud import dataproc_v1, storage

import taxi_platform
from taxi_platform.resources.gcp.clients import client_options, storage_client
from taxi_platform.resources.gcp.uri import GsUri, is_gs_uri
from taxi_platform.resources.spark import RangeRun, SparkResource, StageRun
from taxi_platform.spark.settings import java_options
from taxi_platform.spark.stages import StageResult
from taxi_platform.tlc.months import TripMonth, range_label

PACKAGE_ROOT = Path(taxi_platform.__file__).resolve().parent
MAIN_FILE = PACKAGE_ROOT / "spark" / "job.py"
# What the job imports: the pure layers, never the Dagster code.
JOB_PACKAGE_PARTS = ("__init__.py", "spark", "tlc")
JOB_TERMINAL_STATES = {"DONE", "ERROR", "CANCELLED"}
BATCH_TERMINAL_STATES = {"SUCCEEDED", "FAILED", "CANCELLED"}
ERROR_TAIL_LINES = 40
# Left out of an error's tail (they stay in the log): Spark's INFO chatter and Java stack frames.
TAIL_NOISE = re.compile(r"\d{2}/\d{2}/\d{2} \d{2}:\d{2}:\d{2} INFO |\s+at |\s+\.\.\. \d+ more")
EXCEPTION_LINE = re.compile(r"[A-Za-z_][\w.]*(Error|Exception|Exit)\b")
_Client = TypeVar("_Client", "dataproc_v1.JobControllerClient", "dataproc_v1.BatchControllerClient")


class Log(Protocol):
    def info(self, msg: str) -> Any: ...


@dataclass(frozen=True)
class DataprocRun:
    """A finished job or batch: the JSON summary its driver printed last, and where it ran (metadata)."""

    job_id: str  # the job's id, or the batch's
    summary: dict[str, Any]
    placement: dict[str, str]


class DataprocFailed(RuntimeError):
    """A job or batch that did not succeed; the first line names it and the driver's error, then the tail."""

    def __init__(self, kind: str, run_id: str, state: str, details: str, driver_tail: list[str]) -> None:
        self.kind, self.run_id, self.state, self.details, self.driver_tail = kind, run_id, state, details, driver_tail
        error = driver_error(driver_tail)
        # Dataproc's words usually quote the driver's error; when they do not, the first line still names it.
        said = details if error is None or error in details else f"{details} (driver: {error})"
        tail = "\n".join(driver_tail) or "(no driver output)"
        super().__init__(f"Dataproc {kind} {run_id} ended in {state}: {said}\n--- driver output (tail) ---\n{tail}")

    @property
    def job_id(self) -> str:
        return self.run_id


DataprocJobFailed = DataprocFailed  # the name it had when only cluster jobs failed


def driver_error(lines: list[str]) -> str | None:
    """The exception line of the driver's last Python traceback."""
    starts = [i for i, line in enumerate(lines) if line.startswith("Traceback (most recent call last)")]
    if not starts:
        return None
    found = [line for line in lines[starts[-1] + 1 :] if EXCEPTION_LINE.match(line)]
    return found[-1] if found else None


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


@dataclass(frozen=True)
class Progress:
    """One poll of a job or batch, in words common to both APIs."""

    state: str
    finished: bool
    succeeded: bool
    details: str
    output_uri: str


class DataprocRunner(ConfigurableResource):
    """What submitting `job.py` to Dataproc takes, whether as a cluster's job or a serverless batch.

    Both upload the code the same way, follow the driver's output the same way and fail the same way;
    the subclasses only say how to create, poll and cancel their kind of workload.
    """

    project: str = Field(description="Google Cloud project of the cluster or batches.")
    region: str = Field(description="Dataproc region, e.g. `europe-west1`.")
    code_uri: str = Field(description="`gs://bucket/prefix` where the job's code is uploaded (by content hash).")
    api_endpoint: str | None = Field(
        default=None, description="Dataproc endpoint override; default `{region}-dataproc.googleapis.com`."
    )
    storage_endpoint: str | None = Field(default=None, description="GCS emulator URL; unset = real GCS with ADC.")
    jar_uris: list[str] = Field(default_factory=list, description="Extra jars for the driver and executors.")
    properties: dict[str, str] = Field(default_factory=dict, description="Spark properties of the job.")
    poll_seconds: float = Field(default=5.0, description="Seconds between status polls.")
    timeout_seconds: float = Field(default=3600.0, description="Cancel the job or batch and fail after this long.")

    @property
    def spark_properties(self) -> dict[str, str]:
        """The job's Spark properties: the user's, with the JVM options every platform JVM gets."""
        return {**self.properties, **java_options(self.properties)}

    def run_job(self, args: list[str], label: str, log: Log) -> DataprocRun:
        """Runs job.py with `args`, follows it to the end and returns its JSON summary."""
        raise NotImplementedError

    def _client(self, client_class: type[_Client]) -> _Client:
        """Regional gRPC client with ADC; REST for a URL endpoint, without credentials for a `http://` stand-in."""
        endpoint = self.api_endpoint or f"{self.region}-dataproc.googleapis.com"
        if endpoint.startswith("http://"):  # a stand-in or emulator
            return client_class(transport="rest", **client_options(endpoint))
        transport = "rest" if endpoint.startswith("https://") else None
        return client_class(transport=transport, client_options={"api_endpoint": endpoint})

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

    def upload_input(self, client: storage.Client, path: Path) -> str:
        """A small local input (the zone lookup) under `code_uri/inputs/{hash}/`, unless already there: a
        workload reads `gs://` only."""
        data = path.read_bytes()
        target = GsUri.parse(self.code_uri).join("inputs", hashlib.sha256(data).hexdigest()[:16], path.name)
        blob = client.bucket(target.bucket).blob(target.path)
        if not blob.exists():
            blob.upload_from_string(data)
        return str(target)

    def _follow(
        self,
        kind: str,
        run_id: str,
        poll: Callable[[], Progress],
        cancel: Callable[[], None],
        gcs: storage.Client,
        log: Log,
    ) -> tuple[dict[str, Any], str]:
        """Polls until the workload ends, copying the driver's output into the log; its summary and output URI."""
        output: DriverOutput | None = None
        deadline = time.monotonic() + self.timeout_seconds
        progress = Progress(state="", finished=False, succeeded=False, details="", output_uri="")
        try:
            while True:
                state = progress.state
                progress = poll()
                if progress.state != state:
                    log.info(f"Dataproc {kind} {run_id}: {progress.state}")
                if output is None and progress.output_uri:  # known once the driver is placed
                    output = DriverOutput(gcs, progress.output_uri)
                if progress.finished:
                    break
                _log_lines(log, output.read_new_lines() if output else [])
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"Dataproc {kind} {run_id} still {progress.state} after {self.timeout_seconds:.0f} s"
                    )
                time.sleep(self.poll_seconds)
        except BaseException:
            # Interrupted, timed out or lost: do not leave the workload running (and billing).
            if not progress.finished:
                try:
                    cancel()
                    log.info(f"Cancelled Dataproc {kind} {run_id}")
                except Exception as error:
                    log.info(f"Could not cancel Dataproc {kind} {run_id}: {error}")
            raise
        _log_lines(log, output.finish() if output else [])
        tail = list(output.tail) if output else []
        if not progress.succeeded:
            raise DataprocFailed(kind, run_id, progress.state, progress.details, tail)
        if output is None or output.summary is None:
            raise DataprocFailed(kind, run_id, progress.state, "the driver printed no JSON summary", tail)
        return output.summary, progress.output_uri


class DataprocJobs(DataprocRunner):
    """Runs `taxi_platform.spark.job` as a PySpark job on a running Dataproc cluster."""

    cluster: str = Field(description="Name of the running Dataproc cluster.")

    def job_client(self) -> dataproc_v1.JobControllerClient:
        from google.cloud import dataproc_v1

        return self._client(dataproc_v1.JobControllerClient)

    def run_job(self, args: list[str], label: str, log: Log) -> DataprocRun:
        """Submits job.py with `args` to the cluster, follows it to the end and returns its JSON summary."""
        from google.cloud import dataproc_v1

        gcs = self.storage_client()
        main_uri, package_uri = self.upload_code(gcs)
        request_id = uuid.uuid4().hex  # one per call: a retried submit returns the job already created
        job = dataproc_v1.Job(
            reference=dataproc_v1.JobReference(project_id=self.project, job_id=_workload_id(label, request_id)),
            placement=dataproc_v1.JobPlacement(cluster_name=self.cluster),
            pyspark_job=dataproc_v1.PySparkJob(
                main_python_file_uri=main_uri,
                args=args,
                python_file_uris=[package_uri],
                jar_file_uris=self.jar_uris,
                properties=self.spark_properties,
            ),
            labels=_labels(label),
        )
        client = self.job_client()
        submitted = client.submit_job(
            request=dataproc_v1.SubmitJobRequest(
                project_id=self.project, region=self.region, job=job, request_id=request_id
            )
        )
        job_id = submitted.reference.job_id
        log.info(f"Submitted Dataproc job {job_id} to cluster {self.cluster} ({self.region}): {label}")

        def poll() -> Progress:
            current = client.get_job(project_id=self.project, region=self.region, job_id=job_id)
            state = current.status.state.name
            return Progress(
                state=state,
                finished=state in JOB_TERMINAL_STATES,
                succeeded=state == "DONE",
                details=current.status.details,
                output_uri=current.driver_output_resource_uri,
            )

        def cancel() -> None:
            client.cancel_job(project_id=self.project, region=self.region, job_id=job_id)

        summary, output_uri = self._follow("job", job_id, poll, cancel, gcs, log)
        placement = {
            "spark_placement": "dataproc",
            "dataproc_job_id": job_id,
            "dataproc_cluster": self.cluster,
            "dataproc_region": self.region,
            "dataproc_driver_output": output_uri,
        }
        return DataprocRun(job_id=job_id, summary=summary, placement=placement)


class DataprocBatches(DataprocRunner):
    """Runs `taxi_platform.spark.job` as a Dataproc Serverless batch: no cluster to keep, billed per batch."""

    runtime_version: str | None = Field(
        default=None, description="Serverless runtime version, e.g. `2.2`; unset = the service's default."
    )

    def batch_client(self) -> dataproc_v1.BatchControllerClient:
        from google.cloud import dataproc_v1

        return self._client(dataproc_v1.BatchControllerClient)

    def run_job(self, args: list[str], label: str, log: Log) -> DataprocRun:
        """Creates a batch of job.py with `args`, follows it to the end and returns its JSON summary."""
        from google.cloud import dataproc_v1

        gcs = self.storage_client()
        main_uri, package_uri = self.upload_code(gcs)
        request_id = uuid.uuid4().hex  # one per call: a retried create returns the batch's operation again
        batch_id = _workload_id(label, request_id)
        parent = f"projects/{self.project}/locations/{self.region}"
        batch = dataproc_v1.Batch(
            pyspark_batch=dataproc_v1.PySparkBatch(
                main_python_file_uri=main_uri,
                args=args,
                python_file_uris=[package_uri],
                jar_file_uris=self.jar_uris,
            ),
            runtime_config=dataproc_v1.RuntimeConfig(
                version=self.runtime_version or "", properties=self.spark_properties
            ),
            labels=_labels(label),
        )
        client = self.batch_client()
        created = client.create_batch(
            request=dataproc_v1.CreateBatchRequest(parent=parent, batch=batch, batch_id=batch_id, request_id=request_id)
        )
        name = created.metadata.batch or f"{parent}/batches/{batch_id}"
        operation = created.operation.name
        log.info(f"Created Dataproc Serverless batch {batch_id} ({self.region}): {label}")

        def poll() -> Progress:
            current = client.get_batch(name=name)
            state = current.state.name
            return Progress(
                state=state,
                finished=state in BATCH_TERMINAL_STATES,
                succeeded=state == "SUCCEEDED",
                details=current.state_message,
                output_uri=current.runtime_info.output_uri,
            )

        def cancel() -> None:
            # A batch is cancelled through its long-running operation (what `gcloud dataproc batches cancel` does).
            client.cancel_operation(request={"name": operation})

        summary, output_uri = self._follow("batch", batch_id, poll, cancel, gcs, log)
        placement = {
            "spark_placement": "dataproc_serverless",
            "dataproc_batch_id": batch_id,
            "dataproc_region": self.region,
            "dataproc_driver_output": output_uri,
        }
        return DataprocRun(job_id=batch_id, summary=summary, placement=placement)


def _workload_id(label: str, request_id: str) -> str:
    """`taxi-{label}-{8 hex}`: readable in the console, unique per call, and a valid job and batch id (<= 63)."""
    return f"taxi-{_slug(label)[:49].rstrip('-')}-{request_id[:8]}"


def _slug(label: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", label.lower()).strip("-")[:50] or "job"


def _labels(label: str) -> dict[str, str]:
    return {"app": "taxi-platform", "stage": _slug(label)[:63]}


def _log_lines(log: Log, lines: list[str]) -> None:
    if lines:
        log.info("driver output:\n" + "\n".join(lines))


class DataprocSparkResource(SparkResource):
    """Spark for the gcp profile with Dataproc: every stage (the zone lookup, the typed trips, the revenue
    report) is a cluster's job or a serverless batch, one per stage and range.

    The jobs read and write the lake and the bucket on GCS (`gs://`); nothing of the data passes
    through the Dagster machine, which starts no JVM. Each stage says where it ran in its metadata
    (`spark_placement`, the job or batch id, the driver output URI).
    """

    dataproc: DataprocRunner = Field(
        description="Where the stages run: `DataprocJobs` (a named cluster) or `DataprocBatches` (serverless)."
    )

    def setup_for_execution(self, context: InitResourceContext) -> None:
        """No session starts early: every stage is a Dataproc workload, so this machine needs no JVM."""

    @staticmethod
    def _require_gs(paths: list[str], month: TripMonth, stage: str = "revenue_report") -> None:
        local = [path for path in paths if not is_gs_uri(path)]
        if local:
            raise Failure(
                f"{month.label}: {stage} runs on Dataproc, which cannot read or write the local path "
                f"{local[0]}; the gcp profile keeps the lake and the bucket on GCS (TAXI_LAKE_URI, TAXI_GCS_BUCKET)"
            )

    def run_revenue_report(self, trips_path: str, zones_path: str, output: str, month: TripMonth) -> StageRun:
        self._require_gs([trips_path, zones_path, output], month)
        args = ["revenue", "--color", month.color, "--month", month.yyyy_mm, "--input", trips_path,
                "--output", output, "--zones", zones_path]  # fmt: skip
        submitted = self.dataproc.run_job(args, f"revenue_report {month.label}", get_dagster_logger())
        return StageRun(StageResult.from_dict(submitted.summary), submitted.placement)

    def run_typed_trips(
        self,
        raw_path: str,
        output: str,
        month: TripMonth,
        partitions: int,
        quarantine: str | None = None,
        rows: int | None = None,
    ) -> StageRun:
        """One month typed by a Dataproc job or batch (`job.py typed`), from the lake on GCS to a version there."""
        self._require_gs([raw_path, output, *([quarantine] if quarantine else [])], month, "typed_trips")
        args = ["typed", "--color", month.color, "--month", month.yyyy_mm, "--input", raw_path,
                "--output", output, "--partitions", str(partitions)]  # fmt: skip
        if quarantine:
            args += ["--quarantine", quarantine]
        submitted = self.dataproc.run_job(args, f"typed_trips {month.label}", get_dagster_logger())
        return StageRun(StageResult.from_dict(submitted.summary), submitted.placement)

    def run_typed_trips_range(self, inputs: list[tuple[TripMonth, str, int]], output: str, partitions: int) -> RangeRun:
        """The months' CSVs typed by one Dataproc job or batch (`job.py typed_range`), each read whole from GCS."""
        months = [month for month, _, _ in inputs]
        self._require_gs([raw for _, raw, _ in inputs] + [output], months[0], "typed_trips")
        spec = [{"color": m.color, "month": m.yyyy_mm, "input": raw, "data_lines": lines} for m, raw, lines in inputs]
        args = ["typed_range", "--months", json.dumps(spec), "--output", output, "--partitions", str(partitions)]
        submitted = self.dataproc.run_job(args, f"typed_trips {range_label(months)}", get_dagster_logger())
        results = {folder: StageResult.from_dict(values) for folder, values in submitted.summary.items()}
        return RangeRun(results, submitted.placement)

    def run_taxi_zones(self, csv_path: str, output: str) -> StageRun:
        """The zone lookup typed by a Dataproc job or batch: the checked CSV is uploaded beside the job's code
        (once per content), the typed zones written to `output` in the bucket."""
        if not is_gs_uri(output):
            raise Failure(f"taxi_zones: Dataproc cannot write the local path {output}; the gcp profile keeps the "
                          "bucket on GCS (TAXI_GCS_BUCKET)")  # fmt: skip
        source = (
            csv_path
            if is_gs_uri(csv_path)
            else self.dataproc.upload_input(self.dataproc.storage_client(), Path(csv_path))
        )
        submitted = self.dataproc.run_job(
            ["zones", "--input", source, "--output", output], "taxi_zones", get_dagster_logger()
        )
        return StageRun(StageResult.from_dict(submitted.summary), submitted.placement)

    def run_revenue_reports(self, inputs: list[tuple[TripMonth, str]], zones_path: str, output: str) -> RangeRun:
        """The months' reports as one Dataproc job or batch (`job.py reports`)."""
        months = [month for month, _ in inputs]
        self._require_gs([path for _, path in inputs] + [zones_path, output], months[0])
        spec = [{"color": month.color, "month": month.yyyy_mm, "input": path} for month, path in inputs]
        args = ["reports", "--months", json.dumps(spec), "--zones", zones_path, "--output", output]
        submitted = self.dataproc.run_job(args, f"revenue_report {range_label(months)}", get_dagster_logger())
        results = {folder: StageResult.from_dict(values) for folder, values in submitted.summary.items()}
        return RangeRun(results, submitted.placement)
