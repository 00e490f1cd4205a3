"""A Hydra callback for multiruns: "job k/N: overrides" as each job starts; as each ends, how it
ended (its results.json or the sweep's note: "done", "interrupted", "failed", ...), the elapsed
time and the ETA. N is computed in the launching process and handed to the jobs through the
environment; jobs may run in parallel and elsewhere, so "done" counts the sweep's results.json
files. A job never started (a stopped sweep) logs nothing; a stopped sweep gives no ETA. Never
raises.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

from hydra.core.utils import JobStatus
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from dlproj.runtime import interrupt, sweep
from dlproj.runtime.sweep import count_jobs

log = logging.getLogger("dlproj.sweep")

ENV_JOBS = "DLPROJ_SWEEP_JOBS"
ENV_STARTED = "DLPROJ_SWEEP_STARTED"


def duration(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s" if m else f"{s}s"


class SweepProgress(Callback):
    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        n = count_jobs(config)
        os.environ[ENV_STARTED] = repr(time.time())
        if n:
            os.environ[ENV_JOBS] = str(n)
        log.info("sweep: %s jobs -> %s", n or "?", config.hydra.sweep.dir)

    def _is_job_of_sweep(self, config: DictConfig) -> bool:
        return ENV_STARTED in os.environ and "num" in config.hydra.job

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        try:  # after a stop the runner starts no job (dlproj/runtime/runner.py): nothing to say
            if not self._is_job_of_sweep(config) or interrupt.requested() is not None:
                return
            k, n = config.hydra.job.num + 1, os.environ.get(ENV_JOBS, "?")
            overrides = " ".join(config.hydra.overrides.task)
            log.info("job %s/%s: %s", k, n, overrides or "(defaults)")
        except Exception as exc:
            log.debug("sweep progress: %s", exc)

    def on_job_end(self, config: DictConfig, job_return: Any = None, **kwargs: Any) -> None:
        try:
            if not self._is_job_of_sweep(config):
                return
            status = sweep.job_status(Path(str(config.hydra.runtime.output_dir)))
            if status is None and getattr(job_return, "status", None) == JobStatus.FAILED:
                status = "failed"  # it raised before it could leave a record
            if status == "not started":
                return
            ended = "done" if status in (None, "completed") else status
            k, n = config.hydra.job.num + 1, int(os.environ.get(ENV_JOBS, 0)) or None
            total = n or "?"
            elapsed = time.time() - float(os.environ[ENV_STARTED])
            done = len(list(Path(str(config.hydra.sweep.dir)).glob("*/results.json")))
            line = f"job {k}/{total} {ended}; sweep: {done}/{total} jobs in {duration(elapsed)}"
            if n and 0 < done < n and interrupt.requested() is None:
                line += f", ETA {duration(elapsed / done * (n - done))}"
            log.info("%s", line)
        except Exception as exc:
            log.debug("sweep progress: %s", exc)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        for key in (ENV_JOBS, ENV_STARTED):
            os.environ.pop(key, None)
