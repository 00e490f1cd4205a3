"""`hydra/launcher=joblib`: Hydra's joblib launcher, whose sweep outlives a killed worker.

joblib runs a batch of jobs on loky's worker processes. When one of them dies without a word
(SIGKILL from the kernel's out-of-memory killer, a segfault), loky kills every other worker and
joblib raises TerminatedWorkerError: the jobs running beside it die too (no record), the queued
ones never start, and the sweep ends in a traceback without its closing line.

This launcher runs the batch as Hydra's does, then, after such a death, runs again each job of
the batch that left neither a results.json nor a note (dlproj.runtime.sweep.job_status), with its
own job number and folder. Those runs go one job per worker process (at most n_jobs at once), so
that a death there is the job's own and takes no other job with it. A job whose worker has died
twice is not run again: it is left without a record (the closing line counts it as `no record`)
and one line names it and the signal. What a killed run left in a folder that held no run before
this launch (its `.hydra/`, log, metrics) is removed before it runs again from the start; a folder
that held a run before (a `resume=` job) is run again as it is.

Each job notes in `<sweep dir>/.workers/` the folder it runs in and, once it has returned, its
JobReturn: the jobs that finished in a batch joblib gave up on are not run twice and keep their
return values (an optimising sweeper reads them).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import pickle
import re
import shutil
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.core.singleton import Singleton
from hydra.core.utils import (
    JobReturn,
    JobStatus,
    configure_log,
    filter_overrides,
    run_job,
    setup_globals,
)
from hydra_plugins.hydra_joblib_launcher import _core
from hydra_plugins.hydra_joblib_launcher.joblib_launcher import JoblibLauncher
from omegaconf import DictConfig, OmegaConf, open_dict

from dlproj.files.atomic import atomic_write, write_json
from dlproj.runtime import interrupt
from dlproj.runtime.owner import in_use
from dlproj.runtime.sweep import job_status

log = logging.getLogger("dlproj.joblib")

WORKERS = ".workers"  # in the sweep directory: each job's folder and JobReturn, while it runs
DEATHS = 2  # a job whose worker died this many times is not run again
MEMORY = (" A worker killed by SIGKILL was most often out of memory (the kernel's OOM killer): run "
          "fewer jobs at once (hydra.launcher.n_jobs) or smaller ones.")


def execute_job(marks: str, idx: int, overrides: Sequence[str], hydra_context: Any,
                config: DictConfig, task_function: Any,
                singleton_state: dict[Any, Any]) -> JobReturn:
    """In a worker: Hydra's `_core.execute_job`, noting the job's folder (and whether it held a
    run already) as it starts and its JobReturn once it has returned."""
    setup_globals()
    Singleton.set_state(singleton_state)
    sweep_config = hydra_context.config_loader.load_sweep_config(config, list(overrides))
    with open_dict(sweep_config):
        sweep_config.hydra.job.id = f"{sweep_config.hydra.job.name}_{idx}"
        sweep_config.hydra.job.num = idx
    HydraConfig.instance().set_config(sweep_config)
    run_dir = Path(str(OmegaConf.select(sweep_config, "hydra.sweep.dir"))) / str(
        OmegaConf.select(sweep_config, "hydra.sweep.subdir"))
    held = any((run_dir / name).exists() for name in ("results.json", ".hydra"))
    with contextlib.suppress(OSError):  # a full disk: the job runs; a death loses it for good
        write_json(Path(marks) / f"{idx}.json", {"run_dir": str(run_dir.absolute()),
                                                 "held": held})
    ret = run_job(hydra_context=hydra_context, config=sweep_config, task_function=task_function,
                  job_dir_key="hydra.sweep.dir", job_subdir_key="hydra.sweep.subdir")
    with contextlib.suppress(Exception):  # its return still reaches joblib
        atomic_write(Path(marks) / f"{idx}.pkl", lambda fh: pickle.dump(ret, fh),
                     durable=False)
    return ret


def exit_codes(exc: BaseException) -> str:
    """What loky says of the dead worker: "SIGKILL(-9)", "SIGSEGV(-11)", ... ("" if nothing)."""
    m = re.search(r"exit codes of the workers are \{([^}]*)\}", str(exc))
    return m[1] if m else ""


class RelaunchingJoblibLauncher(JoblibLauncher):
    def launch(self, job_overrides: Sequence[Sequence[str]],
               initial_job_idx: int) -> Sequence[JobReturn]:
        """Hydra's `_core.launch`, its jobs noting their folders and returns; after a worker's
        death, the lost jobs run again (`_after_death`)."""
        from joblib import Parallel, delayed

        assert self.config is not None and self.hydra_context is not None
        setup_globals()
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        marks = sweep_dir / WORKERS
        indices = range(initial_job_idx, initial_job_idx + len(job_overrides))
        for idx in indices:  # a sweep folder given again: an earlier launch's notes
            self._forget(marks, idx)
        joblib_cfg = self.joblib
        joblib_cfg["backend"] = "loky"  # as the plugin: threads do not suit Hydra
        _core.process_joblib_cfg(joblib_cfg)
        log.info("Joblib.Parallel(%s) is launching %d jobs",
                 ",".join(f"{k}={v}" for k, v in joblib_cfg.items()), len(job_overrides))
        log.info("Launching jobs, sweep output dir : %s", sweep_dir)
        for idx, overrides in enumerate(job_overrides):
            log.info("\t#%d : %s", idx, " ".join(filter_overrides(overrides)))
        state = Singleton.get_state()
        try:
            return Parallel(**joblib_cfg)(
                delayed(execute_job)(str(marks), idx, overrides, self.hydra_context,
                                     self.config, self.task_function, state)
                for idx, overrides in zip(indices, job_overrides, strict=True))
        except BrokenProcessPool as exc:
            return self._after_death(exc, marks, job_overrides, initial_job_idx)
        finally:
            for idx in indices:
                self._forget(marks, idx)
            with contextlib.suppress(OSError):
                marks.rmdir()

    def _after_death(self, exc: BrokenProcessPool, marks: Path,
                     job_overrides: Sequence[Sequence[str]], first: int) -> list[JobReturn]:
        """The batch's returns after joblib gave up on it: those its finished jobs noted, the
        lost jobs' from runs of their own."""
        returns: dict[int, JobReturn] = {}
        lost: list[int] = []
        deaths: dict[int, int] = {}
        for idx in range(first, first + len(job_overrides)):
            ret, started = self._noted(marks, idx)
            if ret is not None:
                returns[idx] = ret
            elif started is None or job_status(started) is None:
                lost.append(idx)
                deaths[idx] = int(started is not None)  # it ran when a worker died (maybe its own)
            else:  # it ended (its record is there) but its return is lost
                returns[idx] = self._no_return(job_overrides[idx - first])
        how = exit_codes(exc) or "no exit code"
        if lost and interrupt.requested() is None:
            log.warning("a worker process of the sweep died (%s) and joblib stopped the jobs "
                        "beside it; the %s left without a record (%s) run again, each in a "
                        "worker process of its own", how, "job" if len(lost) == 1 else "jobs",
                        ", ".join(map(str, lost)))
            returns.update(self._relaunch(marks, lost, deaths, job_overrides, first))
        return [returns.get(idx) or self._no_return(job_overrides[idx - first])
                for idx in range(first, first + len(job_overrides))]

    def _relaunch(self, marks: Path, todo: list[int], deaths: dict[int, int],
                  job_overrides: Sequence[Sequence[str]], first: int) -> dict[int, JobReturn]:
        """Run each job of `todo` in a worker process of its own, at most n_jobs at once, again
        after its worker dies until it has died DEATHS times."""
        from joblib import effective_n_jobs
        from joblib.externals.loky import ProcessPoolExecutor

        assert self.hydra_context is not None and self.task_function is not None
        width = max(1, effective_n_jobs(self.joblib.get("n_jobs", -1)))
        state = Singleton.get_state()
        returns: dict[int, JobReturn] = {}
        running: dict[Any, tuple[int, Any]] = {}
        todo = list(todo)
        while todo or running:
            while todo and len(running) < width and interrupt.requested() is None:
                idx = todo.pop(0)
                self._clear(marks, idx)
                executor = ProcessPoolExecutor(max_workers=1)
                future = executor.submit(execute_job, str(marks), idx,
                                         list(job_overrides[idx - first]), self.hydra_context,
                                         self.config, self.task_function, state)
                running[future] = (idx, executor)
            if not running:
                break  # the sweep was stopped: the jobs not run again leave no record
            done, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for future in done:
                idx, executor = running.pop(future)
                try:
                    returns[idx] = future.result()
                except BrokenProcessPool as exc:
                    deaths[idx] = deaths.get(idx, 0) + 1
                    how = exit_codes(exc) or "no exit code"
                    if deaths[idx] < DEATHS:
                        todo.append(idx)
                    else:
                        log.error("job %d: its worker process died again (%s); it is not run "
                                  "again and leaves no record.%s", idx, how, MEMORY
                                  if "SIGKILL" in how else "")
                executor.shutdown(wait=True)
        return returns

    def _clear(self, marks: Path, idx: int) -> None:
        """Before a job runs again: what its killed run left in a folder that held no run
        before (a run dir holding .hydra/ would refuse the new run), and its notes."""
        with contextlib.suppress(OSError, ValueError, KeyError):
            noted = json.loads((marks / f"{idx}.json").read_text())
            run_dir = Path(noted["run_dir"])
            if not noted["held"] and run_dir.is_dir() and not in_use(run_dir) \
                    and job_status(run_dir) is None:
                shutil.rmtree(run_dir)
        self._forget(marks, idx)

    @staticmethod
    def _noted(marks: Path, idx: int) -> tuple[JobReturn | None, Path | None]:
        """A job's JobReturn (None: it did not return) and its folder (None: it did not start)."""
        ret = run_dir = None
        with contextlib.suppress(OSError, ValueError, KeyError):
            run_dir = Path(json.loads((marks / f"{idx}.json").read_text())["run_dir"])
        with contextlib.suppress(Exception):
            ret = pickle.loads((marks / f"{idx}.pkl").read_bytes())
        return (ret if isinstance(ret, JobReturn) else None), run_dir

    @staticmethod
    def _forget(marks: Path, idx: int) -> None:
        for suffix in (".json", ".pkl"):
            with contextlib.suppress(OSError):
                (marks / f"{idx}{suffix}").unlink(missing_ok=True)

    @staticmethod
    def _no_return(overrides: Sequence[str]) -> JobReturn:
        """A job that returned nothing to this process: as dlproj's run of a job that did not
        complete returns (NaN), so that a sweeper reads it as a failed trial, not an error."""
        ret = JobReturn(overrides=list(overrides), status=JobStatus.COMPLETED)
        ret.return_value = math.nan
        return ret


def register() -> None:
    """Make `hydra/launcher=joblib` this launcher: its schema replaces the plugin's in Hydra's
    ConfigStore. Hydra runs every plugin module once per process, at the first use of its plugin
    registry (the joblib plugin stores its own `joblib` then): that use is made here first, so
    nothing stores over this one. (A conf/hydra/launcher/joblib.yaml would be merged into the
    plugin's schema of the same name, a deprecated Hydra path that warns on every run.)"""
    from dataclasses import dataclass

    from hydra.core.config_store import ConfigStore
    from hydra.core.plugins import Plugins
    from hydra_plugins.hydra_joblib_launcher.config import JobLibLauncherConf

    Plugins.instance()

    @dataclass
    class RelaunchingJoblibConf(JobLibLauncherConf):
        _target_: str = ("hydra_plugins.dlproj_launchers.joblib_launcher."
                         "RelaunchingJoblibLauncher")

    ConfigStore.instance().store(group="hydra/launcher", name="joblib",
                                 node=RelaunchingJoblibConf, provider="dlproj")
