"""`dg`, the CLI the Dagster UI points users to, works on this repository from its root.

`dg check defs`, `dg list defs` and `dg dev` find the project through `[tool.dg]` in pyproject.toml.
They run with no TAXI_* variable set: loading the definitions resolves no `EnvVar` (a run does).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import dagster
import pytest

from taxi_platform_tests.support.cli import dagster_home
from taxi_platform_tests.support.data import REPO
from taxi_platform_tests.support.dev_server import (
    ASSETS,
    ASSETS_QUERY,
    ZONE_ASSET,
    DevServer,
    serving,
    wait_until_loaded,
)
from taxi_platform_tests.support.processes import free_port

DG = Path(sys.executable).parent / "dg"


@pytest.fixture(scope="module")
def dg_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The caller's environment without TAXI_* and with a throwaway DAGSTER_HOME (the repo's instance settings)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("TAXI_")}
    return {**env, "DAGSTER_HOME": str(dagster_home(tmp_path_factory.mktemp("dg") / "dagster_home"))}


def dg(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(DG), *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, f"dg {' '.join(args)} exited with {done.returncode}:\n{done.stderr[-5000:]}"
    return done


@pytest.mark.timeout(240)
def test_dg_check_defs_passes(dg_env: dict[str, str]):
    assert "All definitions loaded successfully." in dg(dg_env, "check", "defs").stdout


@pytest.mark.timeout(240)
def test_dg_list_defs_names_the_assets_job_and_sensors(dg_env: dict[str, str]):
    listed = json.loads(dg(dg_env, "list", "defs", "--json").stdout)

    assert sorted(asset["asset_key"] for asset in listed["assets"]) == sorted([*ASSETS, ZONE_ASSET])
    assert sorted(job["name"] for job in listed["jobs"]) == ["taxi_zones_job", "trip_chain"]
    assert sorted(sensor["name"] for sensor in listed["sensors"]) == ["landing_files_sensor", "source_months_sensor"]


@pytest.fixture
def dg_dev(dg_env: dict[str, str], tmp_path: Path) -> Iterator[DevServer]:
    """`dg dev` on a free loopback port, stopped with its whole process group."""
    port = free_port()
    args = [str(DG), "dev", "-h", "127.0.0.1", "-p", str(port)]
    with serving("dg dev", args, port, dg_env, tmp_path / "dg-dev.log") as server:
        yield server


@pytest.mark.timeout(240)
def test_dg_dev_serves_the_code_location(dg_dev: DevServer, dg_env: dict[str, str]):
    wait_until_loaded(dg_dev)  # the location is named taxi_platform, whatever the clone's folder is called

    assert json.loads(dg_dev.get("/server_info"))["dagster_version"] == dagster.__version__
    nodes = {node["assetKey"]["path"][-1] for node in dg_dev.graphql(ASSETS_QUERY)["assetNodes"]}
    assert set(ASSETS) <= nodes, f"assets served: {sorted(nodes)}"
    assert (Path(dg_env["DAGSTER_HOME"]) / "history" / "runs.db").exists(), "dg dev uses DAGSTER_HOME's instance"
