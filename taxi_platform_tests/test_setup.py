"""scripts/setup on a machine whose Python cannot make a venv with pip (Debian without python3.11-venv)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from taxi_platform_tests.support.data import REPO

# A Python whose venv module makes venvs without pip, as Debian's python3.11 does without python3.11-venv.
NO_ENSUREPIP = """#!/usr/bin/env bash
if [ "$1" = "-m" ] && [ "$2" = "venv" ]; then
  exec {python} -m venv --without-pip "${{@:3}}"
fi
exec {python} "$@"
"""


def test_a_venv_without_pip_is_made_again_and_a_python_that_cannot_make_one_is_named(tmp_path: Path):
    clone = tmp_path / "clone"
    (clone / "scripts").mkdir(parents=True)
    shutil.copy(REPO / "scripts" / "setup", clone / "scripts" / "setup")
    for name in ("requirements.lock", "requirements-bqemulator.lock", "pyproject.toml"):
        shutil.copy(REPO / name, clone / name)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(clone / ".venv")], check=True)  # a broken one
    python = tmp_path / "python3.11"
    python.write_text(NO_ENSUREPIP.format(python=sys.executable))
    python.chmod(0o755)

    done = subprocess.run(
        ["bash", "scripts/setup"], cwd=clone, env={"PATH": "/usr/bin:/bin", "PYTHON": str(python)},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip

    assert done.returncode == 1, done.stderr
    assert ".venv has no pip (made without the venv module's ensurepip): making it again" in done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        "Could not make .venv with pip in it: Debian/Ubuntu: sudo apt-get install -y python3.11-venv"
    )
    assert not (clone / ".venv").exists(), "no venv without pip is left to fail every later run"
