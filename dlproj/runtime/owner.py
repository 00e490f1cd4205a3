"""The one owner of a run directory: it takes the directory's lock before anything is written
there, then writes `.hydra/`, the log file and `results.json`, and lets go of the lock.

    with RunOwner(run_dir, hydra_files) as owner:  # the lock (RunInUse: another process has it)
        ...                     # validate, read the checkpoint: nothing written yet
        owner.commit()          # .hydra/ and dlproj.log, with the lines logged so far
        ...                     # the run writes its files
        owner.record(results)   # results.json, whole or not at all

Hydra writes nothing into a run directory (`hydra.output_subdir: null`, a console-only job
logging): its `.hydra/` files are handed to the owner, which writes them at `commit()`. A run that
never commits (a config error, a refused or failed resume, a sweep job that was never started)
leaves its directory exactly as it found it, and removes it when it made it and left it empty.
"""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path
from types import TracebackType

from dlproj.files.atomic import write_json, write_text
from dlproj.runtime.runlock import RunLock

LOG_FILE = "dlproj.log"
LOG_FORMAT = "[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"  # as Hydra's console


class RunOwner:
    """Owns `run_dir` from `__enter__` (the lock) to `__exit__`; `hydra_files` maps a path inside
    the directory (".hydra/config.yaml", ...) to the text written there at `commit()`."""

    def __init__(self, run_dir: Path, hydra_files: dict[str, str] | None = None) -> None:
        self.run_dir = Path(run_dir)
        self.hydra_files = hydra_files or {}
        self.committed = False
        self._lock = RunLock(self.run_dir)
        self._made = not self.run_dir.exists() or not any(self.run_dir.iterdir())
        self._handler: logging.Handler = logging.handlers.MemoryHandler(
            capacity=1 << 20, flushLevel=logging.CRITICAL + 1)
        self._handler.setFormatter(logging.Formatter(LOG_FORMAT))

    def __enter__(self) -> RunOwner:
        self._lock.acquire()  # RunInUse when another live process holds the directory
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
        self._handler = logging.FileHandler(self.run_dir / LOG_FILE, encoding="utf-8")
        self._handler.setFormatter(logging.Formatter(LOG_FORMAT))
        for line in buffered.buffer:
            self._handler.handle(line)
        root = logging.getLogger()
        root.removeHandler(buffered)
        root.addHandler(self._handler)

    def record(self, results: dict) -> Path:
        """Write results.json (after `commit()`, which it does if nothing else did)."""
        self.commit()
        return write_json(self.run_dir / "results.json", results)

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        logging.getLogger().removeHandler(self._handler)
        self._handler.close()
        self._lock.release()
        if not self.committed and self._made and self.run_dir.is_dir() \
                and not any(self.run_dir.iterdir()):
            self.run_dir.rmdir()  # a run that never started leaves nothing behind
