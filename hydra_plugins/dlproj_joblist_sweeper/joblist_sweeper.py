"""`hydra/sweeper=joblist`: a sweep of an explicit list of jobs, handed to Hydra's launcher.

Hydra's basic sweeper runs the cartesian product of its command line; `dlproj.reproduce` needs
only the jobs of its study not done yet, so it writes them to a JSON file,
`[{"overrides": [...], "phase": 0}, ...]`. The sweeper launches them one phase after another,
so a job can use what an earlier phase made; job directories `<sweep dir>/<num>` follow the
file's order. `max_batch_size` hands a phase to the launcher that many jobs at a time: a launcher
that starts every job it is given at once (submitit_local) then runs at most that many. Once the
sweep is stopped (Ctrl-C, SIGTERM: dlproj.runtime.interrupt) no further phase or batch is handed
to the launcher, which would start each job (on SLURM: submit it and wait for the queue) only for
it to see the stop: their jobs are noted `not started` as the launcher's would be. It lives in
`hydra_plugins` because Hydra instantiates sweepers only from there.
"""

# No `from __future__ import annotations`: Hydra imports plugin modules without registering
# them in sys.modules, and dataclasses then cannot resolve string annotations.
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from hydra.errors import HydraException
from hydra.plugins.sweeper import Sweeper
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)


@dataclass
class JobListSweeperConf:
    _target_: str = "hydra_plugins.dlproj_joblist_sweeper.joblist_sweeper.JobListSweeper"
    jobs_file: str = "???"
    max_batch_size: Optional[int] = None  # noqa: UP045 (OmegaConf's types); None: a phase at once


ConfigStore.instance().store(group="hydra/sweeper", name="joblist", node=JobListSweeperConf,
                             provider="dlproj")


class JobListSweeper(Sweeper):
    def __init__(self, jobs_file: str, max_batch_size: int | None = None) -> None:
        self.jobs_file = jobs_file
        self.max_batch_size = max_batch_size
        self.config: DictConfig | None = None
        self.launcher: Any = None

    def setup(self, *, hydra_context: Any, task_function: Any, config: DictConfig) -> None:
        from hydra.core.plugins import Plugins

        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config)

    def sweep(self, arguments: list) -> Any:
        from dlproj.runtime import interrupt
        from dlproj.runtime.sweep import joblist, not_started

        assert self.config is not None and self.launcher is not None
        if arguments:
            raise HydraException(
                "hydra/sweeper=joblist takes its jobs from hydra.sweeper.jobs_file, not from the "
                f"command line; put {arguments} into the jobs' overrides.")
        jobs = joblist(self.jobs_file)
        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        returns = []
        num = 0
        for phase in sorted({p for p, _ in jobs}):
            batch = [overrides for p, overrides in jobs if p == phase]
            log.info("phase %d: %d jobs", phase, len(batch))
            size = self.max_batch_size or len(batch)
            for chunk in (batch[start:start + size] for start in range(0, len(batch), size)):
                if interrupt.requested() is not None:
                    returns.append([not_started(self.config, num + i, overrides)
                                    for i, overrides in enumerate(chunk)])
                else:
                    returns.append(self.launcher.launch(chunk, initial_job_idx=num))
                num += len(chunk)
        return returns
