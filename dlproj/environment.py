"""The environment a result comes from (results.json's `metadata`, the supplement's
environment.json): code version, packages, machine, the cores this process may use.

Never imports torch (sections 1-3 must not): versions come from the installed distributions, the
GPU from `nvidia-smi`, or torch.cuda when the run imported torch itself. Every probe is best
effort: a missing tool leaves its field null, never fails the run.
"""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
from contextlib import suppress
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

from dlproj import paths

PACKAGES = ("numpy", "torch", "torchvision", "hydra-core", "omegaconf")


def cores() -> int:
    """CPU cores this process may run on (its affinity mask, where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def _run(args: list[str], cwd: Path | None = None) -> str | None:
    try:
        out = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def git_state(root: Path = paths.PROJECT_ROOT) -> dict[str, Any]:
    """{"commit": sha or None, "dirty": bool or None}: uncommitted changes, new files included."""
    commit = _run(["git", "rev-parse", "HEAD"], root)
    status = _run(["git", "status", "--porcelain"], root) if commit else None
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in names:
        try:
            out[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            out[name] = None
    return out


def cpu_model() -> str | None:
    with suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or None


def gpus() -> list[str]:
    """GPU names: nvidia-smi when present, else torch.cuda if the run imported torch itself."""
    out = _run(["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader"])
    if out:
        return [line.strip() for line in out.splitlines() if line.strip()]
    torch = sys.modules.get("torch")
    if torch is not None:
        with suppress(Exception):
            if torch.cuda.is_available():
                return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return []


def collect() -> dict[str, Any]:
    from threadpoolctl import threadpool_info  # the thread pools loaded in this process

    return {"git": git_state(), "versions": versions(), "host": socket.gethostname(),
            "platform": platform.platform(),
            "cpu": {"model": cpu_model(), "cores": os.cpu_count(), "cores_usable": cores()},
            "gpus": gpus(),
            "blas_threads": [{"api": p.get("internal_api"), "num_threads": p.get("num_threads"),
                              "version": p.get("version")} for p in threadpool_info()]}
