"""`hydra/sweeper=optuna` (and conf/hydra/sweeper/section2.yaml, which builds on it): Hydra's
Optuna sweeper, whose study goes on past a trial that did not complete.

A trial whose run did not complete (diverged, failed, interrupted, refused) returns NaN
(runtime/app.py). The plugin tells Optuna that NaN as the trial's value, which Optuna refuses,
then tells it the trial failed *with* that value, which Optuna refuses too: a traceback, the
trials after it never run, and no closing line. Here each trial's return is read as the launcher
hands it back: a NaN becomes a value no number stands for, naming how the run ended; the plugin,
reading it as a number, gets that error, tells Optuna the trial failed (no value) with one
warning (`Failed experiment: trial 1 diverged (...)`), and the study goes on. `max_failure_rate`
is 1.0: no number of failed trials stops the sweep (its closing line counts them, exit 1). A
study in which no trial returned a value has no best value: one warning says so, not a
traceback, as when the grid sampler stops the study on a last trial that failed. The study's
direction follows its objective (`direction`): maximize for val_acc, whatever the plugin's
default, and a direction given against it is refused.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus
from hydra_plugins.hydra_optuna_sweeper.optuna_sweeper import OptunaSweeper

from dlproj.errors import ConfigError
from dlproj.runtime.sweep import job_dir, job_status

log = logging.getLogger("dlproj.sweep")


class TrialNotCompleted(Exception):
    """What the plugin gets reading a trial whose run did not complete as a number."""


class _NotCompleted:
    """The return of a trial whose run did not complete: float() of it raises, naming how."""

    def __init__(self, why: str) -> None:
        self.why = why

    def __float__(self) -> float:
        raise TrialNotCompleted(self.why)

    def __repr__(self) -> str:
        return self.why


class _ReadReturns:
    """The sweep's launcher, its returns read before the plugin tells Optuna (see above)."""

    def __init__(self, launcher: Any, config: Any) -> None:
        self.launcher, self.config = launcher, config

    def launch(self, job_overrides: Any, initial_job_idx: int) -> list[JobReturn]:
        returns = self.launcher.launch(job_overrides, initial_job_idx=initial_job_idx)
        for num, ret in enumerate(returns, initial_job_idx):
            value = ret._return_value if ret.status == JobStatus.COMPLETED else None
            if isinstance(value, float) and math.isnan(value):
                folder = job_dir(self.config, num, list(ret.overrides or []))
                ended = job_status(Path(folder)) or "left no record"
                if ended == "completed":  # its run said so too (runtime/app.py)
                    ended = "completed without a value of params.objective"
                ret._return_value = _NotCompleted(f"trial {num} {ended} ({folder})")
        return returns

    def __getattr__(self, name: str) -> Any:
        return getattr(self.launcher, name)


def direction(config: Any) -> str | None:
    """The study's direction for its objective (`params.objective`): maximize for one that is
    better higher (*_acc), minimize for one better lower (*_loss, *_mse, *error), None where its
    name says neither. ConfigError for a `hydra.sweeper.direction=` given against it: the
    plugin's default, minimize, made the worst trial of val_acc the "Best value"."""
    from dlproj.experiments.registry import objective_name
    from dlproj.training.loop import infer_mode

    objective = objective_name(config)
    try:
        wanted = {"max": "maximize", "min": "minimize"}[infer_mode(objective)]
    except ConfigError:
        return None
    given = [str(o).split("=", 1)[1] for o in config.hydra.overrides.hydra
             if str(o).startswith("hydra.sweeper.direction=")]
    if given and given[-1].lower() != wanted:
        raise ConfigError(
            f"Invalid value for 'hydra.sweeper.direction': {given[-1]!r}. Allowed: {wanted}, "
            f"or leave it out: params.objective={objective} is better "
            f"{'higher' if wanted == 'maximize' else 'lower'} (another objective: "
            f"+params.objective=METRIC).")
    return wanted


class CountingOptunaSweeper(OptunaSweeper):
    def setup(self, *, hydra_context: Any, task_function: Any, config: Any) -> None:
        super().setup(hydra_context=hydra_context, task_function=task_function, config=config)
        self.sweeper.launcher = _ReadReturns(self.sweeper.launcher, config)
        wanted = direction(config)
        if wanted is not None:
            self.sweeper.direction = wanted

    def sweep(self, arguments: list[str]) -> None:
        try:
            return super().sweep(arguments)
        except ValueError as exc:  # optuna's Study.best_trial
            if "No trials are completed yet" not in str(exc):
                raise
            log.warning("optuna: no trial returned a value, so the study has no best value")
        except RuntimeError as exc:  # the grid sampler's study.stop() as its last trial failed
            if "Study.stop" not in str(exc):
                raise
            log.warning("optuna: the grid's last trial returned no value, so the study ended "
                        "there (its trials are counted below)")
        return None


def register() -> None:
    """Make `hydra/sweeper=optuna` this sweeper, with max_failure_rate 1.0: its schema replaces
    the plugin's in Hydra's ConfigStore (as runtime/joblib_launcher.register does)."""
    from hydra.core.config_store import ConfigStore
    from hydra.core.plugins import Plugins
    from hydra_plugins.hydra_optuna_sweeper.config import OptunaSweeperConf

    Plugins.instance()
    target = "hydra_plugins.dlproj_optuna_sweeper.optuna_sweeper.CountingOptunaSweeper"
    ConfigStore.instance().store(group="hydra/sweeper", name="optuna", provider="dlproj",
                                 node=OptunaSweeperConf(_target_=target, max_failure_rate=1.0))
