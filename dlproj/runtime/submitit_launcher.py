"""What dlproj's submitit launchers share (`hydra/launcher=slurm`: slurm_launcher.py;
`submitit_local`: `LocalLauncher` here): the jobs submitted as Hydra's plugin submits them, and
their returns collected so that no job takes its sweep down.

Hydra's plugin reads the returns in order and raises at the first job that left none: the sweep
ends in a traceback while the jobs after it run on. Here every job is waited for, and one that
left no return is named in one line; it is noted `not started` where a stop came before its run
wrote anything (a terminal's Ctrl-C reaches a controller's shell before its `trap`), else the
closing line counts it as leaving no record.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, filter_overrides
from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf, LocalQueueConf
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import LocalLauncher as _Local
from omegaconf import OmegaConf

from dlproj.runtime import interrupt
from dlproj.runtime.sweep import job_dir, not_started, returned

log = logging.getLogger("dlproj.sweep")


def executor(launcher: Any) -> Any:
    """submitit's executor with the launcher's parameters, as Hydra's plugin builds it."""
    import submitit

    kind, params = launcher._EXECUTOR, dict(launcher.params)
    retries = ({f"{kind}_max_num_timeout": params.pop("max_num_timeout")}
               if "max_num_timeout" in params else {})
    made = submitit.AutoExecutor(cluster=kind, folder=params.pop("submitit_folder"), **retries)
    base = set(OmegaConf.structured(BaseQueueConf).keys())
    made.update_parameters(**{k if k in base else f"{kind}_{k}": v for k, v in params.items()})
    return made


def job_params(launcher: Any, job_overrides: Sequence[Sequence[str]],
               initial_job_idx: int) -> list[tuple]:
    """The sweep's folder made, each job logged as Hydra's launchers do, and its arguments."""
    sweep_dir = Path(str(launcher.config.hydra.sweep.dir))
    sweep_dir.mkdir(parents=True, exist_ok=True)
    if "mode" in launcher.config.hydra.sweep:
        os.chmod(sweep_dir, mode=int(str(launcher.config.hydra.sweep.mode), 8))
    params = []
    for idx, overrides in enumerate(job_overrides, start=initial_job_idx):
        log.info("\t#%d : %s", idx, " ".join(filter_overrides(overrides)))
        params.append((list(overrides), "hydra.sweep.dir", idx, f"job_id_for_{idx}",
                       Singleton.get_state()))
    return params


def returns(config: Any, jobs: Sequence[Any], params: Sequence[tuple]) -> list[JobReturn]:
    """Each job's return, every job waited for; one that left none (its process killed, or
    stopped before its run began) as the module's docstring says."""
    from submitit.core.utils import UncompletedJobError

    got = []
    for job, (overrides, _, num, *_) in zip(jobs, params, strict=True):
        try:
            got.append(job.results()[0])
            continue
        except UncompletedJobError:  # FailedJobError too: it raised before its run could
            pass
        folder = job_dir(config, num, overrides)
        if interrupt.requested() is not None and not (folder.is_dir() and any(folder.iterdir())):
            got.append(not_started(config, num, overrides))
            continue
        log.warning("job %s ended without a result; its log: %s", folder.name, job.paths.stderr)
        got.append(returned(overrides))
    return got


class LocalLauncher(_Local):
    """`hydra/launcher=submitit_local`: submitit's local launcher, its returns read by `returns`."""

    def launch(self, job_overrides: Sequence[Sequence[str]],
               initial_job_idx: int) -> Sequence[JobReturn]:
        assert self.config is not None and job_overrides
        params = job_params(self, job_overrides, initial_job_idx)
        jobs = executor(self).map_array(self, *zip(*params, strict=True))
        for job in jobs:  # its process, on this machine, wrote its result before it ended:
            job._results_timeout_s = 0  # no wait for a slow file system to show it
        return returns(self.config, jobs, params)


@dataclass
class QuietLocalQueueConf(LocalQueueConf):
    _target_: str = "hydra_plugins.dlproj_launchers.submitit_launchers.LocalLauncher"
    # Each job's controller ignores a terminal's Ctrl-C (its jobs, until dlproj's handler takes
    # over, too): it would end each with a KeyboardInterrupt traceback there; the jobs stop
    # through the sweep's stop file anyway.
    setup: list[str] = field(default_factory=lambda: ["trap '' INT"])


def register() -> None:
    """Make `hydra/launcher=submitit_local` this launcher, as runtime/joblib_launcher.register
    makes `joblib` dlproj's: after Hydra's plugin registry has stored the plugin's own."""
    from hydra.core.plugins import Plugins

    Plugins.instance()
    ConfigStore.instance().store(group="hydra/launcher", name="submitit_local",
                                 node=QuietLocalQueueConf, provider="dlproj")
