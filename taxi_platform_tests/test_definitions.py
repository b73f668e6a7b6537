"""The code location: importing it is cheap and inert; the graph and partitions are as designed."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest
from dagster import MultiPartitionsDefinition

from taxi_platform.assets import all_assets, taxi_zones, trip_assets
from taxi_platform.partitions import partition_key, trip_month_of, trip_months, trip_partitions
from taxi_platform.tlc import TripMonth
from taxi_platform_tests.support.data import REPO

PROBE = """
import json, os, sys, time
CLOUD = ("google", "dagster_gcp", "taxi_platform.resources.gcp")
started = time.perf_counter()
import taxi_platform.definitions as d
seconds = time.perf_counter() - started
import pyspark
children = []
for task in os.listdir("/proc/self/task") if os.path.isdir("/proc/self/task") else []:  # Linux
    with open(f"/proc/self/task/{task}/children") as f:
        children += f.read().split()
print(json.dumps({
    "seconds": seconds,
    "gateway": pyspark.SparkContext._gateway is not None,
    "children": children,
    "assets": sorted(k.to_user_string() for k in d.defs.resolve_asset_graph().get_all_asset_keys()),
    "cloud_modules": sorted(m for m in sys.modules if m.startswith(CLOUD)),
}))
"""


def test_import_starts_no_jvm_and_opens_nothing():
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    probe = json.loads(done.stdout.strip().splitlines()[-1])
    assert probe["gateway"] is False, "no Py4J gateway, so no JVM"
    assert probe["children"] == [], "no child process (java) was started"
    assert probe["assets"] == [
        "bigquery_revenue", "gcs_trips", "raw_trips", "revenue_report", "taxi_zones", "typed_trips"
    ]  # fmt: skip
    assert probe["cloud_modules"] == [], "the local profile imports no Google client, dagster-gcp or Dataproc code"
    print(f"import took {probe['seconds']:.2f}s")


def test_every_asset_shares_the_month_by_color_partitions():
    assert isinstance(trip_partitions, MultiPartitionsDefinition)
    dims = {d.name: d.partitions_def for d in trip_partitions.partitions_defs}
    assert dims["color"].get_partition_keys() == ["green", "yellow"]
    assert min(month.month for month in trip_months()) == dt.date(2019, 1, 1)
    for asset in trip_assets:
        assert asset.partitions_def is trip_partitions, asset.key
    assert taxi_zones.partitions_def is None, "one zone lookup for every month"


def test_a_partition_key_is_what_users_type_and_reads_back_as_its_month():
    month = TripMonth.parse("green", "2021-01")
    # The string form is what `--partition` and the UI take (the docs show it), so it is written out here.
    assert str(partition_key(month)) == "green|2021-01-01"
    assert trip_month_of("green|2021-01-01") == trip_month_of(partition_key(month)) == month
    keys = trip_partitions.get_partition_keys()
    assert [str(partition_key(trip_month_of(key))) for key in keys] == keys


def test_assets_are_chained_in_order():
    upstream = {a.key.to_user_string(): sorted(k.to_user_string() for k in a.dependency_keys) for a in all_assets}
    assert upstream == {
        "taxi_zones": [],
        "raw_trips": [],
        "typed_trips": ["raw_trips"],
        "gcs_trips": ["typed_trips"],
        "revenue_report": ["gcs_trips", "taxi_zones"],
        "bigquery_revenue": ["revenue_report"],
    }


def test_unknown_profile_is_a_clear_error(monkeypatch):
    from taxi_platform.profile import resources_from_environment

    monkeypatch.setenv("TAXI_PROFILE", "gpc")
    with pytest.raises(ValueError, match="TAXI_PROFILE='gpc' is not available; choose one of: local"):
        resources_from_environment()


def test_sensors_start_off_and_run_the_whole_chain():
    from dagster import DefaultSensorStatus

    from taxi_platform.jobs import taxi_zones_job, trip_chain
    from taxi_platform.sensors import trip_sensors

    assert {s.name for s in trip_sensors} == {"landing_files_sensor", "source_months_sensor"}
    for sensor in trip_sensors:
        assert sensor.default_status == DefaultSensorStatus.STOPPED, f"{sensor.name} is on before anyone asked"
        targets = {target.job_name for target in sensor.targets}
        assert targets == {trip_chain.name, taxi_zones_job.name}, "the chain, and the zone lookup before it"
    assert trip_chain.partitions_def is trip_partitions
    from taxi_platform.definitions import defs

    chain = {key.to_user_string() for key in defs.resolve_job_def("trip_chain").asset_layer.selected_asset_keys}
    assert chain == {a.key.to_user_string() for a in trip_assets}, "a month's run does not redo the zones"


@pytest.mark.parametrize(
    ("variable", "value", "problem"),
    [
        ("TAXI_SPARK_MASTER", "yarn", "is not one this platform runs on"),
        ("TAXI_SOURCE_URL", "ftp://mirror.example/tlc", "not a base this platform downloads from"),
        ("TAXI_TLC_URL", "s3://nyc-tlc", "not a base this platform downloads from"),
        ("TAXI_SOURCES", "tlc,s3", "unknown source 's3': list some of release, tlc"),
        ("TAXI_SOURCES", "tlc,tlc", "a source is listed twice"),
        ("TAXI_SENSOR_START", "2024-1", "not a month: write it as YYYY-MM"),
    ],
)
def test_a_bad_value_from_the_environment_names_the_variable_and_the_value(monkeypatch, variable, value, problem):
    """On the local profile too: a `TAXI_SPARK_MASTER` set there is the master, not replaced by `local[*]`."""
    from taxi_platform.profile import BadSetting, resources_from_environment

    monkeypatch.setenv("TAXI_PROFILE", "local")
    monkeypatch.setenv(variable, value)
    with pytest.raises(BadSetting) as failure:
        resources_from_environment()
    assert str(failure.value).startswith(f"{variable}={value!r}: "), failure.value
    assert problem in str(failure.value)


def test_the_local_profile_runs_on_defaults_with_nothing_set(monkeypatch):
    from dagster import build_resources

    from taxi_platform.profile import resources_from_environment
    from taxi_platform.tlc.months import DEFAULT_SOURCE_URL

    names = (
        "TAXI_DATA_DIR",
        "TAXI_SOURCE_URL",
        "TAXI_TLC_URL",
        "TAXI_SOURCES",
        "TAXI_LANDING_DIR",
        "TAXI_SPARK_MASTER",
    )
    for name in ("TAXI_PROFILE", *names):
        monkeypatch.delenv(name, raising=False)
    resources = resources_from_environment()
    with build_resources({k: resources[k] for k in ("lake", "trip_source", "landing")}) as built:
        assert Path(built.lake.root) == Path("data")
        assert built.trip_source.base_url == DEFAULT_SOURCE_URL
        # The course's release first, then the TLC's own feed (written out: the docs say so).
        assert built.trip_source.tlc_url == "https://d37ci6vzurychx.cloudfront.net"
        assert built.trip_source.sources == "release,tlc"
        assert Path(built.landing.root) == Path("landing")


@pytest.mark.parametrize(
    ("profile", "master", "problem"),
    [
        ("local", "spark://127.0.0.1:7077", "for a standalone cluster set TAXI_PROFILE=standalone"),
        ("standalone", "local[2]", "TAXI_PROFILE=standalone needs TAXI_SPARK_MASTER=spark://host:port"),
    ],
)
def test_a_master_of_another_profile_is_refused(monkeypatch, profile, master, problem):
    from taxi_platform.profile import BadSetting, resources_from_environment

    monkeypatch.setenv("TAXI_PROFILE", profile)
    monkeypatch.setenv("TAXI_SPARK_MASTER", master)
    with pytest.raises(BadSetting, match=problem):
        resources_from_environment()


def test_the_local_profile_keeps_a_local_master(monkeypatch):
    from dagster import EnvVar

    from taxi_platform.profile import resources_from_environment

    monkeypatch.setenv("TAXI_PROFILE", "local")
    monkeypatch.setenv("TAXI_SPARK_MASTER", "local[2]")
    master = resources_from_environment()["spark"].master
    assert isinstance(master, EnvVar) and master.get_value() == "local[2]", "not replaced by local[*]"


def test_standalone_without_a_master_is_a_clear_error(monkeypatch):
    from taxi_platform.profile import resources_from_environment

    monkeypatch.setenv("TAXI_PROFILE", "standalone")
    monkeypatch.delenv("TAXI_SPARK_MASTER", raising=False)
    with pytest.raises(ValueError, match="TAXI_PROFILE=standalone needs TAXI_SPARK_MASTER=spark://host:port"):
        resources_from_environment()
