"""Whether a run directory belongs to a live process.

A run holds an exclusive `flock` on its own directory from start to end. The kernel drops the lock
when the process ends in any way, SIGKILL and a crashed node included, so a run directory without
`results.json` whose lock is free was killed: `make reproduce` resumes it from its `last.*`
checkpoint (dlproj.reproduce), while one whose lock is held is still running somewhere and is left
alone. `resume=RUN_DIR` refuses a directory another process holds.

No file is written: the lock lives on the directory's own inode (Linux and macOS `flock`).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class RunInUse(Exception):
    """Another live process holds the run directory."""


def _try_lock(path: Path) -> int | None:
    """A descriptor of `path` holding its exclusive lock, or None while another process has it."""
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


class RunLock:
    """The lock on `run_dir`, held until `release()` (or the process ends)."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        self.fd: int | None = None

    def acquire(self) -> RunLock:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.fd = _try_lock(self.run_dir)
        if self.fd is None:
            raise RunInUse(f"{self.run_dir} is in use by another process (a run still going: "
                           f"wait for it, or stop it first).")
        return self

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def in_use(run_dir: Path) -> bool:
    """True while a live process holds `run_dir` (False for a missing directory)."""
    try:
        fd = _try_lock(Path(run_dir))
    except OSError:
        return False
    if fd is None:
        return True
    os.close(fd)  # closing it drops the lock we just took
    return False
