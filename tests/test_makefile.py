"""The Makefile with `PY=` given: that interpreter is used as it is, never installed into."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TARGETS = ["install", "data", "test", "test-fast", "coverage", "lint", "run", "bench",
           "report-table", "results-doc", "reproduce", "reproduce-quick"]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="no make on this machine")


# What an outer `make` hands its children: under `make test PY=...` the variables given to it
# (PY included) would reach every make below and decide for it.
OUTER_MAKE = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")


def _make(*args: str) -> subprocess.CompletedProcess:
    """`make ARGS` as a user types it, whatever make runs this suite."""
    env = {k: v for k, v in os.environ.items() if k not in OUTER_MAKE}
    return subprocess.run(["make", "--no-print-directory", *args], cwd=ROOT, text=True,
                          capture_output=True, timeout=60, env=env)


@pytest.mark.parametrize("target", TARGETS)
def test_a_given_interpreter_is_checked_not_installed_into(target):
    # -B: every rule as if out of date, so the dry run lists what a fresh clone would run.
    built = _make("-n", "-B", target)
    assert "-m pip install" in built.stdout, built.stdout + built.stderr
    given = _make("-n", "-B", target, f"PY={sys.executable}")
    assert given.returncode == 0, given.stderr
    assert "-m pip install" not in given.stdout and " -m venv" not in given.stdout, given.stdout
    assert f'{sys.executable} -c "import numpy' in given.stdout


def test_an_interpreter_without_the_dependencies_is_refused_in_one_paragraph(tmp_path):
    venv.create(tmp_path / "bare", with_pip=False)
    python = tmp_path / "bare" / "bin" / "python"
    run = _make("lint", f"PY={python}")
    assert run.returncode == 2, run.stdout + run.stderr
    assert f"PY={python} lacks dlproj's dependencies" in run.stdout
    assert "pip install -e '.[test,launchers,search,trackers]'" in run.stdout
    site = next((tmp_path / "bare" / "lib").glob("python*/site-packages"))
    assert sorted(p.name for p in site.iterdir()) == []  # nothing installed into it
