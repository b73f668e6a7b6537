"""Each profile started the way the docs tell a user: environment variables, then `dagster asset materialize -m
taxi_platform.definitions` in a fresh process. Nothing is built in Python here; every run is the CLI's.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import duckdb
import pytest
from dagster import DagsterInstance

from taxi_platform.partitions import partition_key
from taxi_platform.tlc import TripMonth
from taxi_platform_tests.support.cli import (
    dagster_home,
    failure_shown,
    gcp_env,
    latest_metadata,
    materialize_cli,
    run_materialize,
    user_env,
)
from taxi_platform_tests.support.data import GREEN_CSV
from taxi_platform_tests.support.dataproc_standin import DataprocStandIn
from taxi_platform_tests.support.emulators import unique_name
from taxi_platform_tests.support.mirror import MirrorServer
from taxi_platform_tests.support.months import mirror_folder
from taxi_platform_tests.support.oracle import assert_same_report, duckdb_revenue, with_zone_names

GREEN = TripMonth.parse("green", "2021-01")
PARTITION = str(partition_key(GREEN))  # what a user types: green|2021-01-01


def course_report() -> list[dict]:
    """The course's revenue SQL over the committed green 2021-01 file (DuckDB, no taxi_platform code), with the
    pickup zones' names from the committed lookup (`--select '*'` materializes taxi_zones in the same run)."""
    return with_zone_names(duckdb_revenue(GREEN_CSV, "green", GREEN.yyyy_mm))


def placements(home: str | Path) -> dict[str, str]:
    """Where typed_trips and revenue_report ran, as their latest materializations say."""
    return {
        asset: latest_metadata(home, asset, PARTITION)["spark_placement"].value
        for asset in ("typed_trips", "revenue_report")
    }


def test_standalone_profile_from_the_environment(standalone_cluster, mirror, tmp_path):
    """TAXI_PROFILE=standalone with the cluster's URL: the chain's Spark application runs on that cluster."""
    home = dagster_home(tmp_path / "dagster_home")
    env = user_env(
        TAXI_PROFILE="standalone",
        TAXI_SPARK_MASTER=standalone_cluster.master_url,
        TAXI_SOURCE_URL=mirror.url,
        TAXI_TLC_URL=mirror.url,
        TAXI_DATA_DIR=tmp_path / "data",
        DAGSTER_HOME=home,
    )
    materialize_cli(env, "*", PARTITION)

    applications = set()
    for asset in ("typed_trips", "revenue_report"):
        metadata = latest_metadata(home, asset, PARTITION)
        assert metadata["spark_placement"].value == "in-process"
        assert metadata["spark_master"].value == standalone_cluster.master_url
        applications.add(metadata["spark_application_id"].value)
    [application] = applications
    assert application in [app["id"] for app in standalone_cluster.master_state()["completedapps"]]

    with duckdb.connect(str(tmp_path / "data/warehouse.duckdb"), read_only=True) as db:
        cursor = db.execute("SELECT * FROM revenue WHERE service_type = 'green'")
        names = [column[0] for column in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    assert_same_report(rows, course_report())


def test_a_bad_setting_fails_the_load_naming_the_variable_and_the_value(tmp_path):
    """Before any run starts, the last line of the command's error says which variable holds what, without
    the password in it."""
    home = dagster_home(tmp_path / "dagster_home")
    env = user_env(TAXI_SOURCE_URL="ftp://user:secret@mirror/tlc", TAXI_DATA_DIR=tmp_path / "data", DAGSTER_HOME=home)
    done = run_materialize(env, "*", PARTITION)
    assert done.returncode != 0
    named = "BadSetting: TAXI_SOURCE_URL='ftp://mirror/tlc': not a base this platform downloads from"
    assert named in done.stderr.strip().splitlines()[-1], done.stderr
    assert "secret" not in done.stderr
    with DagsterInstance.from_config(str(home)) as instance:
        assert instance.get_runs() == [], "no run started"
    assert not (tmp_path / "data").exists(), "nothing ran"


def bucket_objects(gcs_emulator, env: dict[str, str], prefix: str) -> list[str]:
    """Object names under `prefix/` in the profile's bucket, read with google-cloud-storage."""
    client = gcs_emulator.client(env["TAXI_GCP_PROJECT"])
    return [
        blob.name.removeprefix(f"{prefix}/") for blob in client.list_blobs(env["TAXI_GCS_BUCKET"], prefix=f"{prefix}/")
    ]


def bigquery_slice(bigquery_emulator, env: dict[str, str]) -> list[dict]:
    """The green rows of the profile's revenue table, read with google-cloud-bigquery."""
    client = bigquery_emulator.client()
    table = f"`{env['TAXI_GCP_PROJECT']}.{env['TAXI_BQ_DATASET']}.revenue`"
    with client:
        return [
            dict(row.items()) for row in client.query(f"SELECT * FROM {table} WHERE service_type = 'green'").result()
        ]


@pytest.fixture(scope="module")
def gcp_chain(tmp_path_factory, mirror_server, gcs_emulator, bigquery_emulator) -> dict[str, str]:
    """The whole chain of green 2021-01 materialized once on the gcp profile from the environment; that environment."""
    mirror_server.reset()
    env = gcp_env(tmp_path_factory.mktemp("gcp"), mirror_server.url, gcs_emulator, bigquery_emulator)
    materialize_cli(env, "*", PARTITION)
    return env


def test_gcp_profile_from_the_environment(gcp_chain, gcs_emulator, bigquery_emulator):
    """TAXI_PROFILE=gcp on the emulators: the parquet and the report land in the bucket, the rows in BigQuery."""
    typed = bucket_objects(gcs_emulator, gcp_chain, GREEN.typed_path)
    report = bucket_objects(gcs_emulator, gcp_chain, GREEN.report_path)
    for objects in (typed, report):
        assert "_SUCCESS" in objects and any(name.endswith(".parquet") for name in objects), objects
    assert_same_report(bigquery_slice(bigquery_emulator, gcp_chain), course_report())
    assert placements(gcp_chain["DAGSTER_HOME"]) == {"typed_trips": "in-process", "revenue_report": "in-process"}
    # The lake is on GCS too: the raw file and the typed version under the bucket's `lake/`, nothing on local disk.
    lake = bucket_objects(gcs_emulator, gcp_chain, "lake")
    assert GREEN.raw_path_of("csv.gz") in lake and f"_current/{GREEN.typed_path}.json" in lake, sorted(lake)
    assert not Path(gcp_chain["TAXI_DATA_DIR"]).exists(), "no lake on the run's disk"


def test_each_asset_on_a_fresh_worker_disk(tmp_path, mirror, gcs_emulator, bigquery_emulator):
    """As a team runs steps on short-lived workers: each asset by its own process, each with a new empty
    TAXI_DATA_DIR. Every step finds what the one before it made in the lake on GCS."""
    env = gcp_env(tmp_path, mirror.url, gcs_emulator, bigquery_emulator)
    for i, asset in enumerate(("taxi_zones", "raw_trips", "typed_trips", "gcs_trips", "revenue_report",
                               "bigquery_revenue")):  # fmt: skip
        worker = {**env, "TAXI_DATA_DIR": str(tmp_path / f"worker-{i}")}
        materialize_cli(worker, asset, None if asset == "taxi_zones" else PARTITION)
        assert not any(Path(worker["TAXI_DATA_DIR"]).rglob("*")), f"{asset} left nothing on the worker's disk"
    assert_same_report(bigquery_slice(bigquery_emulator, env), course_report())


def test_a_missing_bucket_is_named(gcp_chain, tmp_path):
    """TAXI_GCS_BUCKET naming no bucket: each asset that touches the bucket says so, not a raw 404."""
    missing = unique_name("no-such-bucket")
    # The lake stays where the chain put it (TAXI_LAKE_URI): publishing is the first step that needs the bucket.
    lake = f"gs://{gcp_chain['TAXI_GCS_BUCKET']}/lake"
    env = {**gcp_chain, "TAXI_GCS_BUCKET": missing, "TAXI_LAKE_URI": lake,
           "DAGSTER_HOME": str(dagster_home(tmp_path / "dagster_home"))}  # fmt: skip
    for asset in ("gcs_trips", "revenue_report", "bigquery_revenue"):
        done = run_materialize(env, asset, PARTITION)
        assert done.returncode != 0, asset
        shown = "\n".join(failure_shown(done.stderr, "STEP_FAILURE"))
        assert f"gs://{missing}: the bucket does not exist" in shown, (asset, shown)
        assert "/storage/v1/b/" not in done.stderr, asset


def test_a_lake_that_cannot_be_written_fails_the_first_step_naming_its_bucket_and_prefix(gcp_chain, tmp_path):
    missing = unique_name("no-such-lake")
    env = {**gcp_chain, "TAXI_LAKE_URI": f"gs://{missing}/team/lake",
           "DAGSTER_HOME": str(dagster_home(tmp_path / "dagster_home"))}  # fmt: skip
    done = run_materialize(env, "raw_trips", PARTITION)
    assert done.returncode != 0
    shown = "\n".join(failure_shown(done.stderr, "STEP_FAILURE"))
    assert "Failure: green 2021-01: " in shown.splitlines()[0], shown
    assert f"the lake gs://{missing}/team/lake cannot be written (bucket {missing}, prefix team/lake)" in shown, shown


def test_gcp_profile_with_dataproc_from_the_environment(tmp_path, mirror, gcs_emulator, bigquery_emulator):
    """With TAXI_DATAPROC_* set every Spark stage is a Dataproc job (the loopback stand-in)."""
    cluster = "taxi-cluster"
    staging = gcs_emulator.create_bucket(unique_name("dataproc"))
    with DataprocStandIn(gcs_emulator.endpoint, staging, cluster=cluster, project=bigquery_emulator.project) as standin:
        env = gcp_env(
            tmp_path, mirror.url, gcs_emulator, bigquery_emulator,
            TAXI_DATAPROC_CLUSTER=cluster, TAXI_DATAPROC_REGION="europe-west1",
            TAXI_DATAPROC_CODE_URI=f"gs://{staging}/code", TAXI_DATAPROC_ENDPOINT=standin.url,
        )  # fmt: skip
        materialize_cli(env, "*", PARTITION)

    [zones, typed, submitted] = standin.submissions  # `*` materializes taxi_zones first, on the cluster too
    assert zones["body"]["job"]["pysparkJob"]["args"][0] == "zones"
    assert typed["body"]["job"]["pysparkJob"]["args"][0] == "typed"
    home = env["DAGSTER_HOME"]
    assert placements(home) == {"typed_trips": "dataproc", "revenue_report": "dataproc"}
    report = latest_metadata(home, "revenue_report", PARTITION)
    assert report["dataproc_job_id"].value == submitted["body"]["job"]["reference"]["jobId"]
    assert report["dataproc_cluster"].value == cluster
    assert_same_report(bigquery_slice(bigquery_emulator, env), course_report())


@pytest.mark.parametrize("serverless", [False, True], ids=["cluster", "serverless"])
def test_a_range_on_the_gcp_profile_submits_one_job_per_stage_for_all_its_months(
    serverless, tmp_path, gcs_emulator, bigquery_emulator
):
    """`--partition-range` over three green months on Dataproc: one job per stage on the named cluster (the
    zones', the typed trips', the reports'), or with TAXI_DATAPROC_SERVERLESS=1 and no cluster one serverless
    batch per stage (and no job); three slices equal to the course SQL either way."""
    months = [TripMonth.parse("green", f"2021-0{number}") for number in (1, 2, 3)]
    root = tmp_path / "mirror"
    sources = mirror_folder(root, {month: 2000 + 200 * i for i, month in enumerate(months)})
    server = MirrorServer(root).start()
    cluster, staging = "taxi-cluster", gcs_emulator.create_bucket(unique_name("dataproc"))
    placement = {"TAXI_DATAPROC_SERVERLESS": "1"} if serverless else {"TAXI_DATAPROC_CLUSTER": cluster}
    try:
        with DataprocStandIn(
            gcs_emulator.endpoint, staging, cluster=cluster, project=bigquery_emulator.project
        ) as standin:
            env = gcp_env(
                tmp_path, server.url, gcs_emulator, bigquery_emulator,
                TAXI_DATAPROC_REGION="europe-west1", TAXI_DATAPROC_CODE_URI=f"gs://{staging}/code",
                TAXI_DATAPROC_ENDPOINT=standin.url, **placement,
            )  # fmt: skip
            materialize_cli(env, "taxi_zones", None)
            ranged = f"{partition_key(months[0])}...{partition_key(months[-1])}"
            materialize_cli(env, "raw_trips*", None, partition_range=ranged)
    finally:
        server.stop()

    # One workload per Spark stage on Dataproc: the zone lookup's, the three months' typed trips', their reports'.
    if serverless:
        assert standin.submissions == [], "no cluster job"
        runs = [(b["body"]["pysparkBatch"]["args"], b["query"]["batchId"][0]) for b in standin.batch_submissions]
        where, id_key = "dataproc_serverless", "dataproc_batch_id"
    else:
        assert standin.batch_submissions == [], "no batch"
        runs = [
            (s["body"]["job"]["pysparkJob"]["args"], s["body"]["job"]["reference"]["jobId"])
            for s in standin.submissions
        ]
        where, id_key = "dataproc", "dataproc_job_id"
    [(zones_args, zones_id), (typed_args, typed_id), (args, run_id)] = runs
    lake = f"gs://{env['TAXI_GCS_BUCKET']}/lake"
    assert zones_args[0] == "zones" and zones_args[zones_args.index("--input") + 1].startswith(f"{lake}/raw/zones/")
    assert typed_args[0] == "typed_range", "the three months are typed by one Dataproc job"
    assert args[0] == "reports", "the three reports are one Dataproc job"
    home = env["DAGSTER_HOME"]
    zones = latest_metadata(home, "taxi_zones", None)
    assert (zones["spark_placement"].value, zones[id_key].value) == (where, zones_id)
    table = bigquery_slice(bigquery_emulator, env)
    for month, source in sources.items():
        key = str(partition_key(month))
        report = latest_metadata(home, "revenue_report", key)
        assert report["spark_placement"].value == where
        assert report[id_key].value == run_id
        typed = latest_metadata(home, "typed_trips", key)
        assert (typed["spark_placement"].value, typed[id_key].value) == (where, typed_id)
        assert typed["uri"].value.startswith(f"{lake}/_versions/{month.typed_path}/")
        ours = [row for row in table if row["revenue_month"] == month.month]
        assert_same_report(ours, with_zone_names(duckdb_revenue(source, "green", month.yyyy_mm)))
        assert report["dagster/row_count"].value == len(ours)


def test_a_month_failing_its_audit_in_a_dataproc_range_is_named_and_its_neighbours_published(
    tmp_path, gcs_emulator, bigquery_emulator
):
    """Three months typed on the cluster, the second with lines that are not trips (more than the share allowed):
    the ranged job leaves it out, its own job quarantines them, its audit refuses it, and the step fails naming it;
    the first and third months are published from the ranged job."""
    months = [TripMonth.parse("green", f"2021-0{number}") for number in (1, 2, 3)]
    root = tmp_path / "mirror"
    sources = mirror_folder(root, dict.fromkeys(months, 2000))
    lines = gzip.decompress(sources[months[1]].read_bytes()).splitlines(keepends=True)
    sources[months[1]].write_bytes(gzip.compress(b"".join(lines[:100] + [b"not,a,trip\n"] * 20 + lines[100:])))
    server = MirrorServer(root).start()
    cluster, staging = "taxi-cluster", gcs_emulator.create_bucket(unique_name("dataproc"))
    try:
        with DataprocStandIn(
            gcs_emulator.endpoint, staging, cluster=cluster, project=bigquery_emulator.project
        ) as standin:
            env = gcp_env(
                tmp_path, server.url, gcs_emulator, bigquery_emulator, TAXI_DATAPROC_CLUSTER=cluster,
                TAXI_DATAPROC_REGION="europe-west1", TAXI_DATAPROC_CODE_URI=f"gs://{staging}/code",
                TAXI_DATAPROC_ENDPOINT=standin.url,
            )  # fmt: skip
            materialize_cli(env, "taxi_zones", None)
            ranged = f"{partition_key(months[0])}...{partition_key(months[-1])}"
            done = run_materialize(env, "raw_trips,typed_trips", None, partition_range=ranged)
    finally:
        server.stop()

    assert done.returncode != 0
    shown = "\n".join(failure_shown(done.stderr, "STEP_FAILURE"))
    assert "typed_trips: 1 of 3 months failed: green 2021-02: " in shown and "not published" in shown, shown
    stages = [s["body"]["job"]["pysparkJob"]["args"][0] for s in standin.submissions]
    assert stages == ["zones", "typed_range", "typed"], "the range in one job, the month it left out in its own"
    published = sorted(bucket_objects(gcs_emulator, env, "lake/_current/pq"))
    assert published == [f"{month.typed_path.removeprefix('pq/')}.json" for month in (months[0], months[2])]


def test_a_gcp_profile_with_both_a_cluster_and_serverless_fails_at_load_naming_both(tmp_path):
    """A cluster's jobs or serverless batches, not both: the code location does not load, and says why."""
    env = user_env(
        TAXI_PROFILE="gcp", TAXI_DATAPROC_CLUSTER="taxi-cluster", TAXI_DATAPROC_SERVERLESS="1",
        TAXI_DATA_DIR=tmp_path / "data", DAGSTER_HOME=dagster_home(tmp_path / "dagster_home"),
    )  # fmt: skip
    done = run_materialize(env, "taxi_zones", None)
    assert done.returncode != 0
    assert "TAXI_DATAPROC_CLUSTER and TAXI_DATAPROC_SERVERLESS are both set" in done.stderr, done.stderr[-2000:]
    assert not (tmp_path / "data").exists(), "nothing ran"
