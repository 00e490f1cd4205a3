"""`hydra/launcher=slurm`: submitit's SLURM launcher that never waits for ever (docs/report.md,
"slurm").

It watches its jobs with `squeue`, not `sacct`: clusters without accounting have none, and
submitit then waits for ever on a job that died without a result. A request SLURM cannot run
cancels the sweep with a message saying what was asked; a job that left the queue without a
result is named once the others have finished.
"""

from __future__ import annotations

import logging
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.core.utils import JobReturn
from hydra.errors import CompactHydraException
from hydra_plugins.hydra_submitit_launcher.config import SlurmQueueConf
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher

from dlproj.runtime.submitit_launcher import executor, job_params, returns

log = logging.getLogger("dlproj.slurm")

# PENDING reasons SLURM gives for a request no node or partition can ever satisfy.
NEVER_SCHEDULED = {"PartitionConfig", "PartitionNodeLimit", "PartitionTimeLimit", "BadConstraints",
                   "InvalidQOS", "InvalidAccount", "QOSMaxCpuPerJobLimit", "QOSMaxMemoryPerJob",
                   "QOSMaxWallDurationPerJobLimit", "AssocMaxCpuPerJobLimit",
                   "AssocMaxWallDurationPerJobLimit"}
# What submitit or sbatch say where no cluster answers: no SLURM here, no config, no controller.
NO_CLUSTER = ("Could not detect", "Could not establish a configuration source",
              "Unable to process configuration file", "Unable to contact slurm controller")
FINISHED = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL",
            "PREEMPTED", "BOOT_FAIL", "DEADLINE"}


class SlurmLaunchError(CompactHydraException):
    """A sweep SLURM cannot run; the message says what was asked and what to change."""


def squeue_states(job_ids: Sequence[str]) -> dict[str, tuple[str, str]]:
    """job id ("12_0" for array tasks) -> (state, reason), for jobs the controller still knows."""
    mains = sorted({j.split("_")[0] for j in job_ids})
    try:
        out = subprocess.run(["squeue", "-h", "-r", "-t", "all", "-o", "%i|%T|%r",
                              "-j", ",".join(mains)], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return {}
    rows = [line.strip().split("|") for line in out.stdout.splitlines()]
    return {row[0]: (row[1], row[2]) for row in rows if len(row) == 3}


@dataclass
class CheckedSlurmQueueConf(SlurmQueueConf):
    _target_: str = "hydra_plugins.dlproj_launchers.submitit_launchers.CheckedSlurmLauncher"
    # Cancel the sweep when a job is still PENDING after this many minutes (null: wait).
    pending_timeout_min: float | None = 60
    poll_s: float = 5
    # A job out of the queue this long without a result is reported as lost.
    lost_grace_s: float = 60


def register() -> None:
    """Store the launcher's schema as `hydra/launcher/_slurm_checked` (slurm.yaml builds on it)."""
    ConfigStore.instance().store(group="hydra/launcher", name="_slurm_checked",
                                 node=CheckedSlurmQueueConf, provider="dlproj")


def register_submitit_slurm() -> None:
    """Make the plugin's own `hydra/launcher=submitit_slurm` this launcher too (its defaults, not
    slurm.yaml's per-section needs), after Hydra's plugin registry has stored the plugin's (as
    runtime/joblib_launcher.register does): it ended in submitit's traceback where no cluster
    answers, leaving a sweep folder of its .submitit/ alone."""
    from hydra.core.plugins import Plugins

    Plugins.instance()
    ConfigStore.instance().store(group="hydra/launcher", name="submitit_slurm",
                                 node=CheckedSlurmQueueConf, provider="dlproj")


class CheckedSlurmLauncher(SlurmLauncher):
    def __init__(self, pending_timeout_min: float | None, poll_s: float, lost_grace_s: float,
                 **params: Any) -> None:
        super().__init__(**params)
        self.pending_timeout_min, self.poll_s = pending_timeout_min, poll_s
        self.lost_grace_s = lost_grace_s

    def _asked(self) -> str:
        keys = ("partition", "cpus_per_task", "mem_gb", "timeout_min", "gpus_per_node")
        return ", ".join(f"{k}={self.params[k]}" for k in keys if self.params.get(k) is not None)

    def _cannot_schedule(self, why: str) -> SlurmLaunchError:
        return SlurmLaunchError(
            f"SLURM cannot run this sweep: {why}. Asked per job: {self._asked()}. See what the "
            "nodes have with `sinfo -o '%P %c %m %l'` and ask for less, e.g. "
            "`hydra.launcher.cpus_per_task=1 hydra.launcher.mem_gb=2` "
            "(or hydra.launcher.partition=NAME, hydra.launcher.timeout_min=MINUTES).")

    def _no_cluster(self, why: str) -> SlurmLaunchError:
        return SlurmLaunchError(
            f"SLURM cannot run this sweep: no cluster answers on this machine ({why}). `sinfo` "
            "must answer here: install SLURM's client and point it at the cluster (SLURM_CONF="
            "PATH/slurm.conf; `make cluster` starts a single-node one, SLURM_CONF="
            "/tmp/dlproj-slurm/slurm.conf), or run the sweep on this machine: "
            "hydra/launcher=joblib, or no hydra/launcher=.")

    def launch(self, job_overrides: Sequence[Sequence[str]],
               initial_job_idx: int) -> Sequence[JobReturn]:
        assert self.config is not None and job_overrides
        log.info("SLURM sweep output dir: %s (per job: %s)", self.config.hydra.sweep.dir,
                 self._asked())
        params = job_params(self, job_overrides, initial_job_idx)
        folder = Path(str(self.params["submitit_folder"]))
        while "%" in folder.name:  # ".../.submitit/%j": the job's own part comes from SLURM
            folder = folder.parent
        there = {folder, *folder.rglob("*")} if folder.is_dir() else set()
        try:
            jobs = executor(self).map_array(self, *zip(*params, strict=True))
        except Exception as exc:
            why = " ".join(str(exc).split())
            if any(sign in why for sign in NO_CLUSTER):  # nothing submitted: nothing kept
                made = ({folder, *folder.rglob("*")} if folder.is_dir() else set()) - there
                for path in sorted(made, key=lambda p: len(p.parts), reverse=True):
                    path.rmdir() if path.is_dir() else path.unlink()
                raise self._no_cluster(why) from None
            raise self._cannot_schedule(f"sbatch refused the jobs ({why})") from None
        log.info("submitted SLURM jobs %s", ", ".join(j.job_id for j in jobs))
        lost = self.watch(jobs)
        if lost:
            raise SlurmLaunchError(
                "SLURM jobs ended without a result (the other jobs finished): " + "; ".join(lost)
                + ". A job killed at its time limit or memory limit ends like this: raise "
                "hydra.launcher.timeout_min / hydra.launcher.mem_gb.")
        return returns(self.config, jobs, params)

    def watch(self, jobs: Sequence[Any]) -> list[str]:
        """Poll squeue until every job has a result; raise for a sweep that cannot be scheduled.
        Returns a description of each job that left the queue without a result."""
        started = time.time()
        gone_since: dict[str, float] = {}
        lost: dict[str, str] = {}
        while True:
            waiting = [j for j in jobs
                       if not j.paths.result_pickle.exists() and j.job_id not in lost]
            if not waiting:
                return list(lost.values())
            states = squeue_states([j.job_id for j in waiting])
            for job in waiting:
                state, reason = states.get(job.job_id, ("", ""))
                if state == "PENDING":
                    limit = self.pending_timeout_min
                    if reason in NEVER_SCHEDULED or (
                            limit is not None and time.time() - started > 60 * limit):
                        subprocess.run(["scancel", *sorted({j.job_id.split("_")[0] for j in jobs})],
                                       capture_output=True, timeout=60, check=False)
                        why = (f"job {job.job_id} is PENDING with Reason={reason}, which no "
                               "node or partition can satisfy" if reason in NEVER_SCHEDULED else
                               f"job {job.job_id} was still PENDING (Reason={reason}) after "
                               f"hydra.launcher.pending_timeout_min={limit}")
                        raise self._cannot_schedule(why)
                elif state in FINISHED or not state:
                    first = gone_since.setdefault(job.job_id, time.time())
                    if time.time() - first > self.lost_grace_s:
                        lost[job.job_id] = (f"job {job.job_id} ({state or 'no longer known'}), "
                                            f"log {job.paths.stderr}")
            time.sleep(self.poll_s)

