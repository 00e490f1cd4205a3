"""Shared test helpers: run `python -m dlproj` in a subprocess, outputs in a temporary folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


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


@pytest.fixture
def dlproj_run(tmp_path):
    """Call as dlproj_run([...overrides]) -> Run; each call gets its own outputs folder."""
    counter = iter(range(1000))

    def _run(args: list[str], **kw) -> Run:
        return run_dlproj(args, tmp_path / f"outputs{next(counter)}", **kw)

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
