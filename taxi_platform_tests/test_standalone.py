"""Standalone mode: the assets run on a real Spark master and worker started from the pip wheel."""

from __future__ import annotations

import pytest
from dagster import Failure, materialize
from pydantic import ValidationError
from pyspark.sql import SparkSession

from taxi_platform.assets import gcs_trips, raw_trips, revenue_report, taxi_zones, typed_trips
from taxi_platform.partitions import partition_key
from taxi_platform.resources import SparkResource
from taxi_platform.tlc import TripMonth
from taxi_platform_tests.support.data import TEST_SPARK_CONFIG
from taxi_platform_tests.support.processes import free_port
from taxi_platform_tests.support.resources import local_platform

GREEN = TripMonth.parse("green", "2021-01")


@pytest.fixture
def no_session_in_process():
    """Other tests leave a local session running; this test needs its own application on the cluster."""
    active = SparkSession.getActiveSession()
    if active is not None:
        active.stop()


def test_report_runs_on_the_workers(standalone_cluster, no_session_in_process, data_dir, mirror):
    resources = local_platform(data_dir, mirror.url, master=standalone_cluster.master_url)
    # The zones first, in the same run (and Spark application) as the partition's stages.
    result = materialize(
        [taxi_zones, raw_trips, typed_trips, gcs_trips, revenue_report],
        resources=resources,
        partition_key=partition_key(GREEN),
    )
    assert result.success
    report = result.asset_materializations_for_node("revenue_report")[0].metadata
    application = report["spark_application_id"].value
    assert report["spark_master"].value == standalone_cluster.master_url
    for stage in ("typed_trips", "taxi_zones"):
        assert result.asset_materializations_for_node(stage)[0].metadata["spark_application_id"].value == application

    master = standalone_cluster.master_state()
    assert application in [app["id"] for app in master["completedapps"]], "the run's application finished"
    worker = standalone_cluster.worker_state()
    executors = worker["finishedexecutors"] + worker["executors"]
    assert application in [e["appid"] for e in executors], "its executors ran on the worker"
    assert report["dagster/row_count"].value > 100


def test_unreachable_master_fails_fast_with_its_url(no_session_in_process):
    master = f"spark://127.0.0.1:{free_port()}"
    resource = SparkResource(master=master, spark_config=TEST_SPARK_CONFIG)
    with pytest.raises(Failure, match=f"Spark master {master} is not reachable"):
        _ = resource.spark_session
    assert SparkSession.getActiveSession() is None, "no JVM session was left waiting"


@pytest.mark.parametrize("master", ["yarn", "spark://no-port", "local[two]"])
def test_bad_master_url_is_named(master):
    with pytest.raises(ValidationError, match="is not one this platform runs on"):
        SparkResource(master=master)
