"""Every command in the README's ```bash blocks runs as written on a fresh clone.

COMMANDS says how each one is exercised; a README command missing from it fails the test, so the
README cannot grow a command that nothing runs.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import duckdb
from dagster import DagsterInstance

from taxi_platform_tests.support.cli import dagster_home
from taxi_platform_tests.support.data import REPO
from taxi_platform_tests.support.dev_server import running_dev
from taxi_platform_tests.support.mirror import MirrorServer

README = REPO / "README.md"

CI = "what CI runs: the last command of .ci/run"
DEV = "started, asked for /server_info, stopped with its process group"
FIRST = "run in order in one bash, in a clone-like folder, against the loopback mirror"
COMMANDS = {
    "scripts/dev": DEV,
    "scripts/test": CI,
    "source .venv/bin/activate": FIRST,
    "export DAGSTER_HOME=$PWD/.dagster": FIRST,
    "dagster asset materialize -m taxi_platform.definitions --select '*' --partition 'green|2021-01-01'": FIRST,
    "dg launch --assets 'raw_trips*' --partition-range 'green|2021-02-01...green|2021-03-01'": FIRST,
    "python -c \"import duckdb; print(duckdb.connect('data/warehouse.duckdb', read_only=True)"
    ".sql('FROM revenue LIMIT 5'))\"": FIRST,
}


def readme_commands() -> list[str]:
    """The commands of the README's fenced blocks, in order; every fence must be ```bash."""
    text = README.read_text()
    fences = re.findall(r"^```(.*)$", text, flags=re.M)
    assert fences == ["bash", ""] * (len(fences) // 2), f"only ```bash blocks, please: {fences}"
    blocks = re.findall(r"^```bash\n(.*?)^```$", text, flags=re.M | re.S)
    lines = "\n".join(blocks).replace("\\\n", " ").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


def clean_environment() -> dict[str, str]:
    """This process's environment without what a newcomer would not have set."""
    unset = ("DAGSTER_HOME", "VIRTUAL_ENV")
    return {k: v for k, v in os.environ.items() if not k.startswith("TAXI_") and k not in unset}


def test_every_readme_command_is_exercised_here():
    commands = readme_commands()
    assert [c for c in commands if c not in COMMANDS] == [], "README commands this test does not run"
    assert [c for c in COMMANDS if c not in commands] == [], "commands this test runs that the README lacks"


def test_scripts_test_is_what_ci_runs():
    ci = [line.strip() for line in (REPO / ".ci/run").read_text().splitlines()]
    assert [line for line in ci if line and not line.startswith("#")][-1] == "scripts/test"


def test_the_readme_says_what_plain_dagster_dev_keeps_without_dagster_home():
    """`dagster dev` and `dg dev` read no setting of the project for their instance: the README says so plainly."""
    text = " ".join(README.read_text().split())
    assert "DAGSTER_HOME` is where `scripts/dev` keeps its run history" in text
    assert "without it `dagster dev` and `dg dev` use a throwaway instance with no history and no two-run limit" in text


def test_scripts_dev_serves_the_ui(tmp_path: Path):
    env = {**clean_environment(), "DAGSTER_HOME": str(dagster_home(tmp_path / "dagster_home"))}
    with running_dev(env, tmp_path) as server:
        assert "dagster_webserver_version" in server.get("/server_info")


def test_first_materialization_writes_under_the_current_directory(tmp_path: Path, mirror: MirrorServer):
    """The README's terminal steps in a folder laid out like the clone: `.venv`, `.dagster/dagster.yaml`, and
    pyproject.toml, where `dg` finds the project."""
    (tmp_path / ".venv").symlink_to(REPO / ".venv")
    dagster_home(tmp_path / ".dagster")
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    script = "\n".join(c for c in readme_commands() if COMMANDS[c] == FIRST)
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=tmp_path, env={**clean_environment(), "TAXI_SOURCE_URL": mirror.url, "TAXI_TLC_URL": mirror.url},
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0 and "RUN_SUCCESS" in done.stderr, done.stderr[-5000:]
    assert (tmp_path / "data/raw/green/2021/01/green_tripdata_2021_01.csv.gz").is_file()
    assert (tmp_path / "data/warehouse.duckdb").is_file()
    assert (tmp_path / "data/bucket/zones/_SUCCESS").is_file(), "`--select '*'` materialized taxi_zones too"
    assert "revenue_zone" in done.stdout and "green" in done.stdout, done.stdout
    assert "service_zone" in done.stdout, "the report's rows name their pickup zone"
    with DagsterInstance.from_config(str(tmp_path / ".dagster")) as instance:  # where scripts/dev's UI looks
        ranged, run = instance.get_runs()  # newest first
    # The partition as the README's command types it after --partition.
    assert run.is_success and run.tags["dagster/partition"] == "green|2021-01-01"
    # The backfill: one run over both months, each month in the warehouse.
    assert ranged.is_success and ranged.tags["dagster/asset_partition_range_start"] == "green|2021-02-01"
    assert ranged.tags["dagster/asset_partition_range_end"] == "green|2021-03-01"
    with duckdb.connect(str(tmp_path / "data/warehouse.duckdb"), read_only=True) as db:
        months = db.execute("SELECT DISTINCT strftime(revenue_month, '%Y-%m') FROM revenue ORDER BY 1").fetchall()
    assert months == [("2021-01",), ("2021-02",), ("2021-03",)]
