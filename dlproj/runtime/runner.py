"""Run one configured experiment and record how it ended.

Every run ends with `results.json` in its directory: status (completed, diverged, failed,
interrupted), final metrics, wall time and, when it did not complete, why. Inside a sweep a failed
job is recorded and the sweep goes on; a single run that did not complete exits non-zero.

SIGINT/SIGTERM (dlproj.runtime.interrupt) stop a run at the next step boundary: its checkpoint
and results.json say where it stopped and how to resume it. Inside a multirun the jobs after an
interrupted one are not started (`UNRECORDED` lists them for the sweep's summary line).
"""

from __future__ import annotations

import logging
import shutil
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from dlproj.config.setting import setting_of
from dlproj.config.validate import validate
from dlproj.errors import ConfigError, Diverged, DlprojError, Interrupted, clean_message
from dlproj.files.atomic import write_json
from dlproj.loggers import build_loggers
from dlproj.runtime import interrupt, threads
from dlproj.runtime.metadata import safe_collect
from dlproj.runtime.runlock import RunInUse, RunLock
from dlproj.training.context import RunContext

log = logging.getLogger("dlproj")

EXIT_FAILED = 1
EXIT_BAD_CONFIG = 2

# Jobs of this process's multirun that left no results.json: not started because a signal
# stopped the sweep, or refused as invalid; the sweep's summary line (runtime/sweep.py) names them.
UNRECORDED: list[dict[str, Any]] = []


def _hydra_run_info() -> tuple[Path, bool, list[str]]:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    hc = HydraConfig.get()
    return (Path(hc.runtime.output_dir), hc.mode == RunMode.MULTIRUN,
            list(hc.overrides.task))


def execute(cfg: DictConfig, run_dir: Path | None = None, is_multirun: bool | None = None,
            overrides: list[str] | None = None) -> dict[str, Any]:
    """Validate, run and record one experiment; returns the final record (also in results.json)."""
    if run_dir is None:
        run_dir, is_multirun, overrides = _hydra_run_info()
    run_dir = Path(run_dir)
    if is_multirun and interrupt.requested() is not None:
        return _not_started(run_dir, overrides or [])
    try:  # held to the end: a directory without results.json and a free lock was killed
        lock = RunLock(run_dir).acquire()
    except RunInUse as exc:  # resume= of a run that is still going: touch nothing of it
        print(f"dlproj: {exc}", file=sys.stderr)
        if not is_multirun:
            sys.exit(EXIT_BAD_CONFIG)
        unrecorded = {"status": "in use", "run_dir": str(run_dir), "overrides": overrides or []}
        UNRECORDED.append(unrecorded)  # the sweep's closing line names it
        return unrecorded
    record: dict[str, Any] = {
        "section": cfg.section, "experiment": cfg.experiment, "seed": cfg.seed,
        "overrides": overrides or [], "run_dir": str(run_dir), "status": "running",
        "metrics": {}, "error": None,
    }
    started = time.time()
    exit_code = 0
    ctx: RunContext | None = None
    with interrupt.catch_signals():
        try:
            experiment = validate(cfg, overrides)
            resuming = _check_resume(cfg, run_dir)
            plan = threads.apply(cfg)
            ctx = RunContext(cfg, run_dir, is_multirun=bool(is_multirun), resuming=resuming)
            ctx.loggers = build_loggers(cfg)
            for logger in ctx.loggers:
                logger.start(ctx)
            log.info("section %s experiment %s -> %s (%s)", cfg.section, cfg.experiment,
                     run_dir, plan)
            record["metrics"] = experiment.fn(ctx) or {}
            record["status"] = "completed"
        except ConfigError as exc:  # not a run (unless it trained): nothing left to count
            record.update(status="failed" if _trained(ctx) else "invalid",
                          error=clean_message(str(exc)))
            print(f"dlproj: {record['error']}", file=sys.stderr)
            exit_code = EXIT_BAD_CONFIG
        except Diverged as exc:
            record.update(status="diverged", error=str(exc))
            log.error("run diverged: %s", exc)
            exit_code = EXIT_FAILED
        except Interrupted as exc:
            record.update(status="interrupted", error=str(exc), signal=interrupt.name(exc.signum))
            exit_code = interrupt.exit_code(exc.signum)
        except KeyboardInterrupt:  # a second Ctrl-C: no waiting for a step boundary
            record.update(status="interrupted", error="a second SIGINT (Ctrl-C)", signal="SIGINT")
            exit_code = interrupt.exit_code(2)
            is_multirun = False  # stop the whole sweep now
        except DlprojError as exc:  # printed once, on stderr; results.json keeps it too
            record.update(status="failed", error=clean_message(str(exc)))
            print(f"dlproj: {record['error']}", file=sys.stderr)
            exit_code = EXIT_FAILED
        except Exception as exc:  # an experiment bug must not take the sweep down
            record.update(status="failed", error=clean_message(f"{type(exc).__name__}: {exc}"))
            log.error("run failed:\n%s", traceback.format_exc())
            exit_code = EXIT_FAILED
        finally:
            if ctx is not None:
                ctx.close()
                if ctx.metrics.rows and not record["metrics"]:
                    record["metrics"] = dict(ctx.metrics.last)
                if ctx.training is not None:
                    record.update(ctx.training.record())
            if record["status"] == "interrupted":
                record["resume_command"] = f"python -m dlproj resume={run_dir}"
                print(f"dlproj: {record['signal']}: stopped after epoch "
                      f"{record.get('last_epoch', 0)} of {cfg.train.epochs}; resume with "
                      f"`{record['resume_command']}`", file=sys.stderr)
            record["wall_seconds"] = round(time.time() - started, 3)
            record["config"] = OmegaConf.to_container(cfg, resolve=True)
            record["metadata"] = safe_collect()
            setting = setting_of(record["config"])
            record.update(setting=setting.id, setting_label=setting.label)
            if record["status"] == "invalid":
                _discard_unstarted(run_dir, overrides or [], "invalid")
            else:
                write_json(run_dir / "results.json", record)
            try:
                for logger in ctx.loggers if ctx is not None else []:
                    logger.finish(record)
            finally:  # a worker process of a sweep lives on: never keep the lock past the run
                lock.release()
    log.info("status %s in %.1fs %s", record["status"], record["wall_seconds"],
             _brief(record["metrics"]))
    if exit_code and not is_multirun:
        sys.exit(exit_code)
    return record


def _check_resume(cfg: DictConfig, run_dir: Path) -> bool:
    """True when this run continues `resume=RUN_DIR` (which must be the run's own directory)."""
    resume = cfg.get("resume")
    if not resume:
        return False
    if Path(resume).resolve() != run_dir.resolve():
        raise ConfigError(
            f"Invalid value for 'resume': {resume!r}. Allowed: a run directory, given on its own "
            f"command line as `python -m dlproj resume=RUN_DIR [train.epochs=N]` (not inside a "
            f"multirun).")
    return True


def _trained(ctx: RunContext | None) -> bool:
    """Whether this process trained at least one epoch of the run (then it is a run)."""
    progress = ctx.training if ctx is not None else None
    return progress is not None and progress.epoch > (progress.resumed_from_epoch or 0)


def _not_started(run_dir: Path, overrides: list[str]) -> dict[str, Any]:
    """A sweep job after an interrupted one: record nothing a report could count as a run."""
    _discard_unstarted(run_dir, overrides, "not started")
    return {"status": "not_started", "run_dir": str(run_dir), "overrides": overrides}


def _discard_unstarted(run_dir: Path, overrides: list[str], status: str) -> None:
    """Remove a run directory that holds only Hydra's bookkeeping (`.hydra/`, logs): a config
    error, or a job a stopped sweep never started, is not a run, so nothing is left that the
    report would count; the sweep's summary line still names it (UNRECORDED). A directory with
    anything else in it (an earlier run's files, `resume=`) is left alone."""
    UNRECORDED.append({"run_dir": str(run_dir), "overrides": overrides, "status": status})
    if run_dir.is_dir() and all(p.name == ".hydra" or p.suffix == ".log"
                                for p in run_dir.iterdir()):
        shutil.rmtree(run_dir, ignore_errors=True)


def _brief(metrics: dict[str, Any]) -> str:
    return " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                    for k, v in metrics.items())
