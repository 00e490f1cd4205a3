"""The one owner of a run directory: it takes the directory's lock before anything is written
there (Hydra writes nothing: `hydra.output_subdir: null`, console-only logging), then writes
`.hydra/`, the log file and `results.json`:

    with RunOwner(run_dir, hydra_files) as owner:  # the lock (RunInUse: another process has it)
        ...                     # validate, read the checkpoint: nothing written yet
        owner.commit()          # .hydra/ and dlproj.log, with the lines logged so far
        owner.record(results)   # results.json, whole or not at all

A run that never commits leaves its directory as it found it (removed if it made it). The lock,
an exclusive `flock` on the directory, is dropped by the kernel however the process ends (SIGKILL
and a crashed node included): a run directory without `results.json` whose lock is free was
killed (`make reproduce` resumes it); one whose lock is held (`in_use`) is still running.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import logging.handlers
import os
from pathlib import Path

from dlproj.files.atomic import write_json, write_text

LOG_FORMAT = "[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"  # as Hydra's console


class _RunLog(logging.FileHandler):
    """dlproj.log: a line the disk refuses (full) ends it quietly, not a traceback per line."""

    def handleError(self, record: logging.LogRecord) -> None:
        self.setLevel(logging.CRITICAL + 1)  # no line is handed to it after this one

    def close(self) -> None:
        with contextlib.suppress(OSError):  # the lines the disk refused, once more
            super().close()


class RunInUse(Exception):
    """Another live process holds the run directory."""


def lock(path: Path) -> int | None:
    """A descriptor holding `path`'s exclusive lock (closing it lets go); None: another has it."""
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def in_use(run_dir: Path) -> bool:
    try:
        fd = lock(Path(run_dir))
    except OSError:
        return False
    if fd is not None:
        os.close(fd)
    return fd is None


class RunOwner:
    """Owns `run_dir` from `__enter__` (the lock) to `__exit__`; `hydra_files` maps a path inside
    the directory (".hydra/config.yaml", ...) to the text written there at `commit()`."""

    def __init__(self, run_dir: Path, hydra_files: dict[str, str]) -> None:
        self.run_dir = Path(run_dir)
        self.hydra_files = hydra_files
        self.committed = False
        self.recorded = False  # results.json written
        self._made = not self.run_dir.exists() or not any(self.run_dir.iterdir())
        self._handler: logging.Handler = logging.handlers.MemoryHandler(
            capacity=1 << 20, flushLevel=logging.CRITICAL + 1)

    def __enter__(self) -> RunOwner:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        fd = lock(self.run_dir)
        if fd is None:
            raise RunInUse(f"{self.run_dir} is in use by another process (a run still going: "
                           f"wait for it, or stop it first).")
        self._fd = fd
        logging.getLogger().addHandler(self._handler)  # lines logged before the commit
        return self

    def commit(self) -> None:
        """The run starts writing into its directory: `.hydra/`, then the log file (idempotent)."""
        if self.committed:
            return
        self.committed = True
        for name, text in self.hydra_files.items():
            write_text(self.run_dir / name, text)
        buffered = self._handler
        self._handler = _RunLog(self.run_dir / "dlproj.log", encoding="utf-8")
        self._handler.setFormatter(logging.Formatter(LOG_FORMAT))
        for line in buffered.buffer:
            self._handler.handle(line)
        root = logging.getLogger()
        root.removeHandler(buffered)
        root.addHandler(self._handler)

    def record(self, results: dict) -> None:
        """Write results.json (after `commit()`, which it does if nothing else did)."""
        self.commit()
        write_json(self.run_dir / "results.json", results)
        self.recorded = True

    def __exit__(self, *exc_info: object) -> None:
        logging.getLogger().removeHandler(self._handler)
        self._handler.close()
        os.close(self._fd)  # the lock, taken in __enter__
        if not self.committed and self._made and self.run_dir.is_dir() \
                and not any(self.run_dir.iterdir()):
            self.run_dir.rmdir()  # a run that never started leaves nothing behind
