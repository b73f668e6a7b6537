"""`dagster asset materialize` as a user runs it: a subprocess with its own DAGSTER_HOME and environment."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from taxi_platform_tests.support.data import REPO

DAGSTER = Path(sys.executable).parent / "dagster"


def dagster_home(folder: Path) -> Path:
    """A fresh DAGSTER_HOME with the repository's instance settings."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / ".dagster/dagster.yaml", folder / "dagster.yaml")
    return folder


def materialize_cli(env: dict[str, str], select: str, partition: str, timeout: float = 600) -> str:
    """Run one partition's materialization; fail the test with Dagster's own words if it fails."""
    done = subprocess.run(
        [str(DAGSTER), "asset", "materialize", "-m", "taxi_platform.definitions", "--select", select,
         "--partition", partition],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    assert done.returncode == 0 and "RUN_SUCCESS" in done.stderr, done.stderr[-5000:]
    return done.stderr
