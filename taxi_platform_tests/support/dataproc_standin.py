"""A loopback stand-in for the Dataproc Jobs and Batches REST APIs that really runs the PySpark workloads.

Dataproc's control plane cannot run here, so this speaks its v1 REST API (camelCase proto JSON,
Google error bodies, long-running operations) to the real `google-cloud-dataproc` client and executes
each submitted job or created batch with this venv's `spark-submit --master local[2]`: the files come
from the GCS emulator, Spark reads and writes `gs://` on that emulator through the GCS connector, and
the driver's output is streamed into `driveroutput.NNNNNNNNN` objects the way Dataproc's agent writes
them (a job's at `driverOutputResourceUri`, a batch's at `runtimeInfo.outputUri`).

    standin = DataprocStandIn(storage_endpoint, "staging-bucket").start()
    JobControllerClient(transport="rest", client_options={"api_endpoint": standin.url}, ...)
    BatchControllerClient(transport="rest", client_options={"api_endpoint": standin.url}, ...)
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyspark
from google.auth.credentials import AnonymousCredentials
from google.cloud import dataproc_v1, storage
from google.longrunning import operations_pb2
from google.protobuf import json_format, message
from google.rpc import code_pb2, status_pb2

from taxi_platform.resources.gcp.dataproc import driver_error
from taxi_platform.spark.gcs import gcs_connector_settings

SPARK_SUBMIT = Path(pyspark.__file__).parent / "bin" / "spark-submit"
State = dataproc_v1.JobStatus.State
BatchState = dataproc_v1.Batch.State
JOBS = r"/v1/projects/(?P<project>[^/]+)/regions/(?P<region>[^/]+)/jobs"
BATCHES = r"/v1/projects/(?P<project>[^/]+)/locations/(?P<region>[^/]+)/batches"
# A batch's operation is regional (`projects/p/regions/r/operations/id`); the client also knows `locations/`.
OPERATIONS = r"/v1/(?P<operation>projects/[^/]+/(?:regions|locations)/[^/]+/operations/[^/:]+)"
ROUTES = [
    ("POST", re.compile(JOBS + r":submit"), "submit"),
    ("GET", re.compile(JOBS), "list"),
    ("GET", re.compile(JOBS + r"/(?P<job_id>[^/:]+)"), "get"),
    ("POST", re.compile(JOBS + r"/(?P<job_id>[^/:]+):cancel"), "cancel"),
    ("DELETE", re.compile(JOBS + r"/(?P<job_id>[^/:]+)"), "delete"),
    ("POST", re.compile(BATCHES), "create_batch"),
    ("GET", re.compile(BATCHES), "list_batches"),
    ("GET", re.compile(BATCHES + r"/(?P<batch_id>[^/:]+)"), "get_batch"),
    ("DELETE", re.compile(BATCHES + r"/(?P<batch_id>[^/:]+)"), "delete_batch"),
    ("GET", re.compile(OPERATIONS), "get_operation"),
    ("POST", re.compile(OPERATIONS + r":cancel"), "cancel_operation"),
]
BATCH_ID = re.compile(r"[a-z0-9][a-z0-9-]{2,61}[a-z0-9]")


class ApiError(Exception):
    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Workload:
    """What spark-submit runs for a job or a batch, and its process once started."""

    name: str
    main: str
    args: list[str]
    py_files: list[str]
    jars: list[str]
    properties: dict[str, str]
    output_uri: str
    request_id: str
    process: subprocess.Popen | None = None
    cancelled: bool = False
    command: list[str] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        raise NotImplementedError

    def enter(self, phase: str, details: str = "") -> None:
        """Moves to `phase` (setup, running, cancelling, done, error, cancelled) in its own API's states."""
        raise NotImplementedError


@dataclass
class StandInJob(Workload):
    job: dataproc_v1.Job = field(default_factory=dataproc_v1.Job)

    STATES = {"setup": State.SETUP_DONE, "running": State.RUNNING, "cancelling": State.CANCEL_PENDING,
              "done": State.DONE, "error": State.ERROR, "cancelled": State.CANCELLED}  # fmt: skip

    @property
    def finished(self) -> bool:
        return self.job.status.state in (State.DONE, State.ERROR, State.CANCELLED)

    def enter(self, phase: str, details: str = "") -> None:
        job = self.job
        job.status_history.append(job.status)
        job.status = dataproc_v1.JobStatus(state=self.STATES[phase], details=details, state_start_time=_timestamp())
        job.done = self.finished


@dataclass
class StandInBatch(Workload):
    batch: dataproc_v1.Batch = field(default_factory=dataproc_v1.Batch)

    # A batch has no SETUP_DONE: it stays PENDING until its driver runs.
    STATES = {"setup": BatchState.PENDING, "running": BatchState.RUNNING, "cancelling": BatchState.CANCELLING,
              "done": BatchState.SUCCEEDED, "error": BatchState.FAILED, "cancelled": BatchState.CANCELLED}  # fmt: skip

    @property
    def finished(self) -> bool:
        return self.batch.state in (BatchState.SUCCEEDED, BatchState.FAILED, BatchState.CANCELLED)

    def enter(self, phase: str, details: str = "") -> None:
        batch, state = self.batch, self.STATES[phase]
        if state == batch.state:
            return
        batch.state_history.append(
            dataproc_v1.Batch.StateHistory(
                state=batch.state, state_message=batch.state_message, state_start_time=batch.state_time
            )
        )
        batch.state, batch.state_message, batch.state_time = state, details, _timestamp()
        if phase != "setup":
            batch.runtime_info.output_uri = self.output_uri  # Dataproc names it once the driver is placed

    def operation(self) -> operations_pb2.Operation:
        """The long-running operation `create_batch` returns, and `operations.get` reports."""
        metadata = dataproc_v1.BatchOperationMetadata(
            batch=self.batch.name,
            batch_uuid=self.batch.uuid,
            create_time=self.batch.create_time,
            operation_type=dataproc_v1.BatchOperationMetadata.BatchOperationType.BATCH,
            description="Batch",
            labels=dict(self.batch.labels),
        )
        operation = operations_pb2.Operation(name=self.batch.operation, done=self.finished)
        operation.metadata.Pack(dataproc_v1.BatchOperationMetadata.pb(metadata))
        if self.batch.state == BatchState.SUCCEEDED:
            operation.response.Pack(dataproc_v1.Batch.pb(self.batch))
        elif self.finished:
            code = code_pb2.CANCELLED if self.batch.state == BatchState.CANCELLED else code_pb2.UNKNOWN
            operation.error.CopyFrom(status_pb2.Status(code=code, message=self.batch.state_message))
        return operation


def _timestamp() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def cluster_settings(storage_endpoint: str, project: str) -> dict[str, str]:
    """What a Dataproc image brings: the GCS connector, here pointed at the emulator without credentials."""
    return {
        **gcs_connector_settings(storage_endpoint, project),
        # Without this the connector (2.2.6) asks the metadata server for a token before trying null auth.
        "spark.hadoop.fs.gs.auth.service.account.enable": "false",
    }


class DriverOutputWriter:
    """Dataproc's driver output: `{prefix}.000000000` rewritten as it grows, a new object every `chunk_bytes`."""

    def __init__(self, bucket: storage.Bucket, prefix: str, chunk_bytes: int) -> None:
        self.bucket, self.prefix, self.chunk_bytes = bucket, prefix, chunk_bytes
        self.index = 0
        self.current = bytearray()
        self.uploaded = 0
        self.lock = threading.Lock()
        self.all_lines: list[str] = []

    def write(self, line: bytes) -> None:
        with self.lock:
            self.current += line
            self.all_lines.append(line.decode("utf-8", "replace").rstrip("\r\n"))

    def flush(self) -> None:
        with self.lock:
            data = bytes(self.current)
            full = len(data) >= self.chunk_bytes
            if full:
                self.current = bytearray()
        if len(data) != self.uploaded or full:
            self.bucket.blob(f"{self.prefix}.{self.index:09d}").upload_from_string(data, content_type="text/plain")
            self.uploaded = len(data)
        if full:
            self.index, self.uploaded = self.index + 1, 0


class DataprocStandIn:
    """Threaded HTTP server on 127.0.0.1 answering the Dataproc Jobs API for one cluster, and the Batches API."""

    def __init__(
        self,
        storage_endpoint: str,
        staging_bucket: str,
        spark_conf: dict[str, str] | None = None,
        *,
        cluster: str = "standin-cluster",
        project: str = "standin-project",  # for the connector and GCS client; jobs may name any project
        output_chunk_bytes: int = 1 << 20,
        flush_seconds: float = 0.5,
    ) -> None:
        self.storage_endpoint = storage_endpoint.rstrip("/")
        self.staging_bucket = staging_bucket
        self.spark_conf = dict(spark_conf or {})
        self.cluster = cluster
        self.cluster_uuid = str(uuid.uuid4())
        self.project = project
        self.output_chunk_bytes = output_chunk_bytes
        self.flush_seconds = flush_seconds
        self.submissions: list[dict[str, Any]] = []  # every job submit: path params, query, JSON body
        self.jobs: dict[str, StandInJob] = {}
        self.batch_submissions: list[dict[str, Any]] = []  # every batch create, the same way
        self.batches: dict[str, StandInBatch] = {}
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._server: ThreadingHTTPServer | None = None

    # --- server ---------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._server is not None, "not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> DataprocStandIn:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                standin._handle(self, "GET")

            def do_POST(self) -> None:
                standin._handle(self, "POST")

            def do_DELETE(self) -> None:
                standin._handle(self, "DELETE")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="dataproc-standin", daemon=True).start()
        return self

    def stop(self) -> None:
        with self._lock:
            running = [entry for entry in [*self.jobs.values(), *self.batches.values()] if not entry.finished]
        for entry in running:
            self._cancel(entry)
        for thread in self._threads:
            thread.join(timeout=30)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> DataprocStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _handle(self, request: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(request.path)
        query = parse_qs(parts.query)
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        try:
            for route_method, pattern, action in ROUTES:
                match = pattern.fullmatch(parts.path)
                if route_method == method and match:
                    result = getattr(self, f"_{action}_route")(body=body, query=query, **match.groupdict())
                    break
            else:
                raise ApiError(HTTPStatus.NOT_FOUND, f"The requested URL {parts.path} was not found on this server.")
        except ApiError as error:
            status, payload = error.status, _error(error.status, str(error))
        except Exception as error:  # a bug here must reach the client as an answer, not a dropped connection
            status, payload = HTTPStatus.INTERNAL_SERVER_ERROR, _error(HTTPStatus.INTERNAL_SERVER_ERROR, repr(error))
        else:
            ints = any("enum-encoding=int" in value for value in query.get("$alt", []))
            with self._lock:  # job threads change states while we serialize
                status, payload = HTTPStatus.OK, _to_json(result, ints)
        data = json.dumps(payload).encode()
        request.send_response(status)
        request.send_header("Content-Type", "application/json; charset=UTF-8")
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)

    # --- the API --------------------------------------------------------------------------------
    def _submit_route(self, body: bytes, query: dict, project: str, region: str) -> dataproc_v1.Job:
        request = dataproc_v1.SubmitJobRequest()
        try:  # strict, like the service: unknown fields are an error
            self.submissions.append({"project": project, "region": region, "query": query, "body": json.loads(body)})
            json_format.Parse(body, dataproc_v1.SubmitJobRequest.pb(request))
        except (ValueError, json_format.ParseError) as error:
            raise ApiError(HTTPStatus.BAD_REQUEST, f"Invalid JSON payload received. {error}") from None
        job = request.job
        if job.placement.cluster_name != self.cluster:
            name = f"projects/{project}/regions/{region}/clusters/{job.placement.cluster_name}"
            raise ApiError(HTTPStatus.NOT_FOUND, f"Not found: Cluster {name}")
        if not job.pyspark_job.main_python_file_uri:
            raise ApiError(HTTPStatus.BAD_REQUEST, "The stand-in runs PySpark jobs only (pysparkJob missing)")
        with self._lock:
            if request.request_id:
                for entry in self.jobs.values():
                    if entry.request_id == request.request_id:
                        return entry.job  # the same request again: the job it created
            job_id = job.reference.job_id or uuid.uuid4().hex
            if job_id in self.jobs:
                raise ApiError(HTTPStatus.CONFLICT, f"Already exists: Failed to submit job: Job {project}/{job_id}")
            job.reference.project_id = project
            job.reference.job_id = job_id
            job.placement.cluster_uuid = self.cluster_uuid
            job.job_uuid = str(uuid.uuid4())
            control = f"gs://{self.staging_bucket}/google-cloud-dataproc-metainfo/{self.cluster_uuid}/jobs/{job_id}/"
            job.driver_control_files_uri = control
            job.driver_output_resource_uri = control + "driveroutput"
            job.status = dataproc_v1.JobStatus(state=State.PENDING, state_start_time=_timestamp())
            pyspark = job.pyspark_job
            entry = StandInJob(
                name=job_id, main=pyspark.main_python_file_uri, args=list(pyspark.args),
                py_files=list(pyspark.python_file_uris), jars=list(pyspark.jar_file_uris),
                properties=dict(pyspark.properties), output_uri=job.driver_output_resource_uri,
                request_id=request.request_id, job=job,
            )  # fmt: skip
            self.jobs[job_id] = entry
            self._start(entry, f"dataproc-job-{job_id}")
            return job

    def _get_route(self, body: bytes, query: dict, project: str, region: str, job_id: str) -> dataproc_v1.Job:
        return self._entry(project, job_id).job

    def _list_route(self, body: bytes, query: dict, project: str, region: str) -> dataproc_v1.ListJobsResponse:
        with self._lock:
            jobs = [e.job for e in self.jobs.values() if e.job.reference.project_id == project]
        return dataproc_v1.ListJobsResponse(jobs=jobs)

    def _cancel_route(self, body: bytes, query: dict, project: str, region: str, job_id: str) -> dataproc_v1.Job:
        entry = self._entry(project, job_id)
        if entry.finished:
            state = entry.job.status.state.name
            raise ApiError(HTTPStatus.BAD_REQUEST, f"Job {job_id} is in state {state} and cannot be cancelled")
        self._cancel(entry)
        return entry.job

    def _delete_route(self, body: bytes, query: dict, project: str, region: str, job_id: str) -> dict:
        entry = self._entry(project, job_id)
        if not entry.finished:
            raise ApiError(HTTPStatus.BAD_REQUEST, f"Job {job_id} is still running; cancel it first")
        with self._lock:
            del self.jobs[job_id]
        return {}

    def _entry(self, project: str, job_id: str) -> StandInJob:
        with self._lock:
            entry = self.jobs.get(job_id)
        if entry is None or entry.job.reference.project_id != project:
            raise ApiError(HTTPStatus.NOT_FOUND, f"Not found: Job projects/{project}/jobs/{job_id}")
        return entry

    # --- the batches API --------------------------------------------------------------------------
    def _create_batch_route(self, body: bytes, query: dict, project: str, region: str) -> operations_pb2.Operation:
        batch = dataproc_v1.Batch()
        request_id, batch_id = (query.get(key, [""])[0] for key in ("requestId", "batchId"))
        try:  # strict, like the service: unknown fields are an error
            self.batch_submissions.append(
                {"project": project, "region": region, "query": query, "body": json.loads(body)}
            )
            json_format.Parse(body, dataproc_v1.Batch.pb(batch))
        except (ValueError, json_format.ParseError) as error:
            raise ApiError(HTTPStatus.BAD_REQUEST, f"Invalid JSON payload received. {error}") from None
        if not batch.pyspark_batch.main_python_file_uri:
            raise ApiError(HTTPStatus.BAD_REQUEST, "The stand-in runs PySpark batches only (pysparkBatch missing)")
        if batch_id and not BATCH_ID.fullmatch(batch_id):
            raise ApiError(HTTPStatus.BAD_REQUEST, f"Batch ID '{batch_id}' must be 4-63 characters of [a-z0-9-]")
        with self._lock:
            if request_id:
                for entry in self.batches.values():
                    if entry.request_id == request_id:
                        return entry.operation()  # the same request again: the operation it started
            batch_id = batch_id or uuid.uuid4().hex
            name = f"projects/{project}/locations/{region}/batches/{batch_id}"
            if batch_id in self.batches:
                raise ApiError(HTTPStatus.CONFLICT, f"Batch {name} already exists")
            batch.name, batch.uuid = name, str(uuid.uuid4())
            batch.create_time = batch.state_time = _timestamp()
            batch.state = BatchState.PENDING
            batch.creator = "standin@example.com"
            batch.operation = f"projects/{project}/regions/{region}/operations/{uuid.uuid4()}"
            # Where a serverless driver's output goes: the staging bucket, under the batch's uuid.
            control = (
                f"gs://{self.staging_bucket}/google-cloud-dataproc-metainfo/{batch.uuid}/jobs/srvls-batch-{batch.uuid}"
            )
            pyspark = batch.pyspark_batch
            entry = StandInBatch(
                name=batch_id, main=pyspark.main_python_file_uri, args=list(pyspark.args),
                py_files=list(pyspark.python_file_uris), jars=list(pyspark.jar_file_uris),
                properties=dict(batch.runtime_config.properties), output_uri=f"{control}/driveroutput",
                request_id=request_id, batch=batch,
            )  # fmt: skip
            self.batches[batch_id] = entry
            self._start(entry, f"dataproc-batch-{batch_id}")
            return entry.operation()

    def _get_batch_route(self, body: bytes, query: dict, project: str, region: str, batch_id: str) -> dataproc_v1.Batch:
        return self._batch(project, region, batch_id).batch

    def _list_batches_route(
        self, body: bytes, query: dict, project: str, region: str
    ) -> dataproc_v1.ListBatchesResponse:
        prefix = f"projects/{project}/locations/{region}/batches/"
        with self._lock:
            batches = [e.batch for e in self.batches.values() if e.batch.name.startswith(prefix)]
        return dataproc_v1.ListBatchesResponse(batches=batches)

    def _delete_batch_route(self, body: bytes, query: dict, project: str, region: str, batch_id: str) -> dict:
        entry = self._batch(project, region, batch_id)
        if not entry.finished:
            raise ApiError(
                HTTPStatus.BAD_REQUEST, f"Batch {entry.batch.name} is {entry.batch.state.name}; cancel it first"
            )
        with self._lock:
            del self.batches[batch_id]
        return {}

    def _get_operation_route(self, body: bytes, query: dict, operation: str) -> operations_pb2.Operation:
        entry = self._operation(operation)
        with self._lock:
            return entry.operation()

    def _cancel_operation_route(self, body: bytes, query: dict, operation: str) -> dict:
        entry = self._operation(operation)
        if entry.finished:
            state = entry.batch.state.name
            raise ApiError(HTTPStatus.BAD_REQUEST, f"Batch {entry.batch.name} is {state} and cannot be cancelled")
        self._cancel(entry)
        return {}

    def _batch(self, project: str, region: str, batch_id: str) -> StandInBatch:
        name = f"projects/{project}/locations/{region}/batches/{batch_id}"
        with self._lock:
            entry = self.batches.get(batch_id)
        if entry is None or entry.batch.name != name:
            raise ApiError(HTTPStatus.NOT_FOUND, f"Not found: Batch {name}")
        return entry

    def _operation(self, operation: str) -> StandInBatch:
        regional = re.sub(r"/locations/", "/regions/", operation, count=1)
        with self._lock:
            found = [e for e in self.batches.values() if e.batch.operation == regional]
        if not found:
            raise ApiError(HTTPStatus.NOT_FOUND, f"Not found: Operation {operation}")
        return found[0]

    # --- running a job or batch -------------------------------------------------------------------
    def _start(self, entry: Workload, thread_name: str) -> None:
        thread = threading.Thread(target=self._run, args=(entry,), name=thread_name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _set_state(self, entry: Workload, phase: str, details: str = "") -> None:
        with self._lock:
            entry.enter(phase, details)

    def _cancel(self, entry: Workload) -> None:
        entry.cancelled = True
        self._set_state(entry, "cancelling")
        process = entry.process
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)

    def _run(self, entry: Workload) -> None:
        """Fetches the workload's files, runs spark-submit and streams its output; the same for jobs and batches."""
        workdir = Path(tempfile.mkdtemp(prefix=f"dataproc-{entry.name}-"))
        gcs = storage.Client(
            project=self.project,
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": self.storage_endpoint},
        )
        _, output_prefix = _split(entry.output_uri)
        output = DriverOutputWriter(gcs.bucket(self.staging_bucket), output_prefix, self.output_chunk_bytes)
        try:
            main = self._fetch(gcs, entry.main, workdir / "main")
            py_files = [self._fetch(gcs, uri, workdir / f"py{i}") for i, uri in enumerate(entry.py_files)]
            jars = [self._fetch(gcs, uri, workdir / f"jar{i}") for i, uri in enumerate(entry.jars)]
            conf = {**cluster_settings(self.storage_endpoint, self.project), **self.spark_conf}
            jars = [*conf.pop("spark.jars", "").split(","), *jars]
            conf.update(entry.properties)  # the workload's properties override the cluster's
            command = [str(SPARK_SUBMIT), "--master", "local[2]", "--name", entry.name]
            command += ["--jars", ",".join(j for j in jars if j)]
            if py_files:
                command += ["--py-files", ",".join(py_files)]
            for key, value in conf.items():
                command += ["--conf", f"{key}={value}"]
            entry.command = [*command, main, *entry.args]
            self._set_state(entry, "setup")
            if entry.cancelled:
                self._set_state(entry, "cancelled")
                return
            env = {
                **os.environ,
                "PYSPARK_PYTHON": sys.executable,
                "PYSPARK_DRIVER_PYTHON": sys.executable,
                "SPARK_LOCAL_IP": "127.0.0.1",
            }
            entry.process = subprocess.Popen(
                entry.command, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
            if entry.cancelled:  # cancelled while starting
                os.killpg(entry.process.pid, signal.SIGTERM)
            else:
                self._set_state(entry, "running")
            reader = threading.Thread(target=lambda: [output.write(line) for line in entry.process.stdout])
            reader.start()
            while entry.process.poll() is None:
                time.sleep(self.flush_seconds)
                output.flush()
            reader.join()
            output.flush()
            code = entry.process.returncode
            if entry.cancelled:
                self._set_state(entry, "cancelled")
            elif code == 0:
                self._set_state(entry, "done")
            else:
                message = driver_error(output.all_lines) or f"Driver exited with code {code}"
                details = (
                    f"Job failed with message [{message}]. Additional details can be found at:\n{entry.output_uri}.*"
                )
                self._set_state(entry, "error", details)
        except Exception as error:  # staging failed (missing object, ...): the workload errors, the server lives on
            output.write(f"{type(error).__name__}: {error}\n".encode())
            output.flush()
            self._set_state(entry, "error", f"Job failed with message [{type(error).__name__}: {error}]")
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    @staticmethod
    def _fetch(gcs: storage.Client, uri: str, folder: Path) -> str:
        """A local copy of a `gs://` file (other URIs are passed through, as Dataproc does with `file://`)."""
        if not uri.startswith("gs://"):
            return uri
        bucket, name = _split(uri)
        folder.mkdir(parents=True)
        target = folder / name.rsplit("/", 1)[-1]
        gcs.bucket(bucket).blob(name).download_to_filename(str(target))
        return str(target)

    def wait(self, timeout: float = 300) -> None:
        """Until every job submitted so far has finished."""
        deadline = time.monotonic() + timeout
        for thread in list(self._threads):
            thread.join(timeout=max(0.0, deadline - time.monotonic()))


def _split(uri: str) -> tuple[str, str]:
    bucket, _, name = uri.removeprefix("gs://").partition("/")
    return bucket, name


def _to_json(result: Any, enums_as_ints: bool) -> Any:
    """A proto-plus message, a plain protobuf one (operations carry `@type`d Any fields) or a dict, as JSON."""
    if isinstance(result, dict):
        return result
    pb = result if isinstance(result, message.Message) else type(result).pb(result)
    return json.loads(json_format.MessageToJson(pb, use_integers_for_enums=enums_as_ints))


def _error(status: HTTPStatus, message: str) -> dict[str, Any]:
    """Google's JSON error body, which the client turns into the matching `google.api_core` exception."""
    grpc_status = {
        HTTPStatus.BAD_REQUEST: "INVALID_ARGUMENT",
        HTTPStatus.NOT_FOUND: "NOT_FOUND",
        HTTPStatus.CONFLICT: "ALREADY_EXISTS",
        HTTPStatus.INTERNAL_SERVER_ERROR: "INTERNAL",
    }.get(status, "UNKNOWN")
    return {"error": {"code": status.value, "message": message, "status": grpc_status}}
