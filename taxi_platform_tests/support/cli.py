"""`dagster asset materialize` as a user runs it: a subprocess with its own DAGSTER_HOME and environment."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from dagster import AssetKey, AssetRecordsFilter, DagsterInstance, MetadataValue

from taxi_platform_tests.support.data import REPO
from taxi_platform_tests.support.emulators import BigQueryEmulator, GcsEmulator, unique_name

DAGSTER = Path(sys.executable).parent / "dagster"


def dagster_home(folder: Path) -> Path:
    """A fresh DAGSTER_HOME with the repository's instance settings."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / ".dagster/dagster.yaml", folder / "dagster.yaml")
    return folder


# A TLC feed with nothing in it: a run that looks past the release is told "not published", never the internet.
NO_FEED = (REPO / "taxi_platform_tests/no-feed").as_uri()


def user_env(**settings: str | Path) -> dict[str, str]:
    """This process's environment without any TAXI_* variable, plus `settings`: only what a user exported.

    TAXI_TLC_URL defaults to `NO_FEED` (tests have no internet); a test that wants the feed sets it to the mirror.
    """
    clean = {name: value for name, value in os.environ.items() if not name.startswith("TAXI_")}
    return {**clean, "TAXI_TLC_URL": NO_FEED, **{name: str(value) for name, value in settings.items()}}


def gcp_env(
    root: Path, source_url: str, gcs_emulator: GcsEmulator, bigquery_emulator: BigQueryEmulator, **more: str
) -> dict[str, str]:
    """The gcp profile's variables for the emulators, a new bucket and dataset, and folders under `root`."""
    return user_env(
        TAXI_PROFILE="gcp",
        TAXI_GCP_PROJECT=bigquery_emulator.project,
        TAXI_GCS_BUCKET=gcs_emulator.create_bucket(unique_name("taxi")),
        TAXI_BQ_DATASET=unique_name("taxi", "_"),
        TAXI_GCS_ENDPOINT=gcs_emulator.endpoint,
        TAXI_BIGQUERY_ENDPOINT=bigquery_emulator.endpoint,
        TAXI_SOURCE_URL=source_url,
        TAXI_TLC_URL=source_url,
        TAXI_DATA_DIR=root / "data",
        DAGSTER_HOME=dagster_home(root / "dagster_home"),
        **more,
    )


def materialize_command(
    select: str, partition: str | None = None, partition_range: str | None = None, config: Path | None = None
) -> list[str]:
    """`dagster asset materialize` of `select`: one partition, a range in one run (`first...last`), or neither
    (an unpartitioned asset); `config` is a run config file (e.g. resource settings)."""
    return [str(DAGSTER), "asset", "materialize", "-m", "taxi_platform.definitions", "--select", select,
            *(["--partition", partition] if partition else []),
            *(["--partition-range", partition_range] if partition_range else []),
            *(["--config", str(config)] if config else [])]  # fmt: skip


def run_materialize(
    env: dict[str, str], select: str, partition: str | None, timeout: float = 600, partition_range: str | None = None
) -> subprocess.CompletedProcess:
    """One partition's materialization, or a range's in one run (`first...last`); neither: an unpartitioned asset's.
    Whatever its outcome (Dagster logs to stderr)."""
    return subprocess.run(
        materialize_command(select, partition, partition_range),
        cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def materialize_zones_cli(env: dict[str, str]) -> str:
    """`dagster asset materialize --select taxi_zones`: what a user runs once before the first report."""
    return materialize_cli(env, "taxi_zones", None)


def materialize_cli(
    env: dict[str, str], select: str, partition: str | None, timeout: float = 600, partition_range: str | None = None
) -> str:
    """Run one partition's (or a range's) materialization; fail the test with Dagster's own words if it fails."""
    done = run_materialize(env, select, partition, timeout, partition_range)
    assert done.returncode == 0 and "RUN_SUCCESS" in done.stderr, done.stderr[-5000:]
    return done.stderr


def latest_metadata(home: str | Path, asset: str, partition: str | None) -> dict[str, MetadataValue]:
    """The metadata of an asset partition's (None: an unpartitioned asset's) latest materialization, read back from
    the runs' DAGSTER_HOME."""
    partitions = None if partition is None else [partition]
    with DagsterInstance.from_config(str(home)) as instance:
        records = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=AssetKey(asset), asset_partitions=partitions), limit=1
        ).records
    assert records, f"no materialization of {asset} {partition} in {home}"
    return dict(records[0].asset_materialization.metadata)


def failure_shown(stderr: str, event: str) -> list[str]:
    """What the CLI prints for the first `event` (e.g. RUN_FAILURE) before its stack trace: what a user reads first."""
    lines = stderr.splitlines()
    start = next((i for i, line in enumerate(lines) if " - ERROR - " in line and f" - {event} - " in line), None)
    assert start is not None, f"no {event} in:\n{stderr[-5000:]}"
    shown = []
    for line in lines[start + 1 :]:
        if line.startswith("Stack Trace:") or " - dagster - " in line:
            break
        if line.strip():
            shown.append(line)
    return shown
