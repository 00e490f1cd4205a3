"""`hydra/launcher=joblib`: Hydra's joblib launcher, whose sweep outlives a killed worker.

When a loky worker dies without a word (SIGKILL from the kernel's out-of-memory killer, a
segfault), loky kills the other workers and joblib raises TerminatedWorkerError: the jobs beside
it die too (no record), the queued ones never start, and the sweep ends in a traceback.

After such a death this launcher runs again each job of the batch that left neither a
results.json nor a note (dlproj.runtime.sweep.job_status), with its own job number and folder,
each in a worker process of its own (at most n_jobs at once), so that a death there takes no
other job with it. A job whose worker died twice is left without a record (`no record`), with one
line naming it and the signal. A killed run in a folder that held no run before this launch
continues from its last checkpoint (`resume=`), or, killed before its first, its leftovers are
removed and it runs again from the start; a `resume=` job's folder is run again as it is.

Each job notes in `<sweep dir>/.workers/` its folder and, once it has returned, its return value:
the jobs that finished in a batch joblib gave up on are not run twice and keep their returns (an
optimising sweeper reads them).

Its worker processes ignore SIGINT and SIGTERM outside a run from their start (`WORKER_SETUP`;
why: interrupt.ignore_stop_signals) and end with the sweep's process. A second Ctrl-C waits for
the running jobs' records (interrupt.workers_record); a third leaves without them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import re
import shutil
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import partial
from itertools import takewhile
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn
from hydra_plugins.hydra_joblib_launcher import _core
from hydra_plugins.hydra_joblib_launcher.joblib_launcher import JoblibLauncher
from joblib import effective_n_jobs
from joblib.externals.loky import ProcessPoolExecutor
from omegaconf import DictConfig

from dlproj.config.overrides import override
from dlproj.errors import ConfigError
from dlproj.files.atomic import write_json
from dlproj.runtime import interrupt
from dlproj.runtime.owner import in_use
from dlproj.runtime.sweep import job_status, not_started, returned

log = logging.getLogger("dlproj.joblib")

WORKERS = ".workers"  # in the sweep directory: each job's folder and return, while it runs
DEATHS = 2  # a job whose worker died this many times is not run again


def _worker_starts() -> None:
    """In each worker process, as it starts: SIGINT and SIGTERM ignored outside a run
    (interrupt.ignore_stop_signals), but the death of the sweep's process ends it
    (interrupt.exit_with_parent), and no progress bars: workers side by side would each draw
    theirs on the one terminal they share (the sweep's lines say how each job goes)."""
    interrupt.ignore_stop_signals()
    interrupt.exit_with_parent()
    os.environ["DLPROJ_PROGRESS"] = "0"


WORKER_SETUP = {"initializer": _worker_starts}  # each worker process, as it starts
MEMORY = (" A worker killed by SIGKILL was most often out of memory (the kernel's OOM killer): run "
          "fewer jobs at once (hydra.launcher.n_jobs) or smaller ones.")


def noting(task: Any, marks: str, cfg: DictConfig) -> Any:
    """The task in a worker, noting its job's folder (and whether it held a run already) as it
    starts and its return value once it has returned."""
    hc = HydraConfig.get()
    note, run_dir = Path(marks) / f"{hc.job.num}.json", Path(hc.runtime.output_dir)
    noted = {"run_dir": str(run_dir),
             "held": any((run_dir / name).exists() for name in ("results.json", ".hydra"))}
    with contextlib.suppress(OSError):  # a full disk: the job runs; a death loses it for good
        write_json(note, noted)
    try:
        value = task(cfg)
    except KeyboardInterrupt:  # a second Ctrl-C just after its record was written (the run
        # takes one before): the job is over; raised into joblib, it had the pool killed with
        # the other jobs' records. NaN: what a run that did not complete returns.
        value = math.nan
    with contextlib.suppress(OSError):  # its return still reaches joblib
        write_json(note, {**noted, "returned": value})
    return value


def exit_codes(exc: BaseException) -> str:
    """What loky says of the dead worker: "SIGKILL(-9)", "SIGSEGV(-11)", ... or "no exit code"."""
    m = re.search(r"exit codes of the workers are \{([^}]*)\}", str(exc))
    return m[1] if m else "no exit code"


class _UntilStopped(list):
    """A batch's jobs as joblib takes them, a few ahead of its workers (`pre_dispatch`): none
    once the sweep is asked to stop. A queued job handed to a worker would only see the stop and
    note itself `not started`, at the cost of composing its config there: a long queue stopped
    in seconds per job."""

    def __iter__(self) -> Iterator[Sequence[str]]:
        return takewhile(lambda _: interrupt.requested() is None, super().__iter__())


class RelaunchingJoblibLauncher(JoblibLauncher):
    def launch(self, job_overrides: Sequence[Sequence[str]],
               initial_job_idx: int) -> Sequence[JobReturn]:
        """Hydra's launch, its jobs noting their folders and returns; after a stop, the jobs not
        handed to a worker yet are noted `not started` here; after a worker's death, the lost
        jobs run again (`_after_death`)."""
        assert self.config is not None
        marks = Path(str(self.config.hydra.sweep.dir)) / WORKERS
        shutil.rmtree(marks, ignore_errors=True)  # a sweep folder given again: an earlier launch's
        task, self.task_function = self.task_function, partial(noting, self.task_function,
                                                                 str(marks))
        settings, self.joblib = self.joblib, {**self.joblib, **WORKER_SETUP}
        try:
            with interrupt.workers_record():  # a second Ctrl-C waits for the jobs' records
                returns = super().launch(_UntilStopped(job_overrides), initial_job_idx)
            rest = range(len(returns), len(job_overrides))  # not handed to a worker: a stop
            return [*returns, *(not_started(self.config, initial_job_idx + i, job_overrides[i])
                                for i in rest)]
        except BrokenProcessPool as exc:
            return self._after_death(exc, marks, job_overrides, initial_job_idx)
        except ValueError as exc:  # joblib refused its settings, before any job started
            given = [o for o in self.config.hydra.overrides.hydra
                     if o.startswith("hydra.launcher.")]
            why = " ".join(str(exc).split()).rstrip(".")
            raise ConfigError(
                f"Invalid value for 'hydra.launcher' ({' '.join(given) or 'its defaults'}): "
                f"joblib refuses it: {why}. Allowed: joblib.Parallel's arguments, e.g. "
                f"`hydra.launcher.n_jobs=2` (an integer, not 0; -1 for every core).") from None
        finally:
            self.task_function, self.joblib = task, settings
            shutil.rmtree(marks, ignore_errors=True)

    def _after_death(self, exc: BrokenProcessPool, marks: Path,
                     job_overrides: Sequence[Sequence[str]], first: int) -> list[JobReturn]:
        """The batch's returns after joblib gave up on it: those its finished jobs noted, the
        lost jobs' from runs of their own."""
        returns: dict[int, JobReturn] = {}
        lost: dict[int, int] = {}  # a job left without a record: how often its worker died
        for idx in range(first, first + len(job_overrides)):
            noted = self._noted(marks, idx)
            if "returned" in noted:
                returns[idx] = returned(job_overrides[idx - first], noted["returned"])
            elif "run_dir" not in noted or job_status(Path(noted["run_dir"])) is None:
                lost[idx] = int("run_dir" in noted)  # it ran when a worker died (maybe its own)
            # else it ended (its record is there) but its return is lost: NaN below
        how = exit_codes(exc)
        if interrupt.requested() is not None:
            # The stop killed the workers (a terminal's Ctrl-C reaches one still starting up,
            # before its initializer ignores it): the jobs no worker began were not started.
            for idx in [i for i, ran in lost.items() if not ran]:
                returns[idx] = not_started(self.config, idx, job_overrides[idx - first])
            lost = {}
        if lost:
            log.warning("a worker process of the sweep died (%s) and joblib stopped the jobs "
                        "beside it; the %s left without a record (%s) run again, each in a "
                        "worker process of its own", how, "job" if len(lost) == 1 else "jobs",
                        ", ".join(map(str, lost)))
            returns.update(self._relaunch(marks, lost, job_overrides, first))
        return [returns.get(idx) or returned(job_overrides[idx - first])
                for idx in range(first, first + len(job_overrides))]

    def _relaunch(self, marks: Path, deaths: dict[int, int],
                  job_overrides: Sequence[Sequence[str]], first: int) -> dict[int, JobReturn]:
        """Run each job of `deaths` in a worker process of its own, at most n_jobs at once, again
        after its worker dies until it has died DEATHS times."""
        state = Singleton.get_state()

        def run_alone(idx: int) -> JobReturn | None:
            how = ""
            for _ in range(deaths[idx], DEATHS):
                if interrupt.requested() is not None:
                    return None  # the sweep was stopped: the job not run again leaves no record
                again = self._again(marks, idx, list(job_overrides[idx - first]))
                with ProcessPoolExecutor(max_workers=1, **WORKER_SETUP) as executor:
                    future = executor.submit(_core.execute_job, idx, again, self.hydra_context,
                                             self.config, self.task_function, state)
                    try:
                        return future.result()
                    except BrokenProcessPool as exc:
                        how = exit_codes(exc)
            log.error("job %d: its worker process died again (%s); it is not run again and "
                      "leaves no record.%s", idx, how, MEMORY if "SIGKILL" in how else "")
            return None

        with ThreadPoolExecutor(max(1, effective_n_jobs(self.joblib.get("n_jobs", -1)))) as pool:
            returns = dict(zip(deaths, pool.map(run_alone, deaths), strict=True))
        return {idx: ret for idx, ret in returns.items() if ret is not None}

    def _again(self, marks: Path, idx: int, overrides: list[str]) -> list[str]:
        """A job's overrides to run it again: a killed run that left a checkpoint (`last.*`) in a
        folder that held no run before is resumed from it (`resume=`); what a killed run left
        without one is removed (a run dir holding .hydra/ would refuse the new run)."""
        from dlproj.training.loop import has_last_checkpoint

        noted = self._noted(marks, idx)
        with contextlib.suppress(OSError):
            (marks / f"{idx}.json").unlink(missing_ok=True)
        run_dir = Path(noted.get("run_dir", ""))
        if (not noted or noted["held"] or not run_dir.is_dir() or in_use(run_dir)
                or job_status(run_dir) is not None):
            return overrides
        if has_last_checkpoint(run_dir):
            log.info("job %d continues from its killed run's last checkpoint (resume=%s)",
                     idx, run_dir)
            return [*overrides, override("resume", run_dir)]
        shutil.rmtree(run_dir, ignore_errors=True)
        return overrides

    @staticmethod
    def _noted(marks: Path, idx: int) -> dict[str, Any]:
        """A job's note: {} if it did not start, its "run_dir" and "held", its "returned" value
        once it has returned."""
        with contextlib.suppress(OSError, ValueError):
            return json.loads((marks / f"{idx}.json").read_text())
        return {}


def register() -> None:
    """Make `hydra/launcher=joblib` this launcher: its schema replaces the plugin's in Hydra's
    ConfigStore. Hydra runs every plugin module once per process, at the first use of its plugin
    registry (the joblib plugin stores its own `joblib` then): that use is made here first, so
    nothing stores over this one. (A conf/hydra/launcher/joblib.yaml would be merged into the
    plugin's schema of the same name, a deprecated Hydra path that warns on every run.)"""
    from hydra.core.config_store import ConfigStore
    from hydra.core.plugins import Plugins
    from hydra_plugins.hydra_joblib_launcher.config import JobLibLauncherConf

    Plugins.instance()
    target = "hydra_plugins.dlproj_launchers.joblib_launcher.RelaunchingJoblibLauncher"
    ConfigStore.instance().store(group="hydra/launcher", name="joblib",
                                 node=JobLibLauncherConf(_target_=target), provider="dlproj")
