"""Run one configured experiment and record how it ended.

Every run ends with `results.json` in its directory: status (completed, diverged, failed,
interrupted), final metrics, wall time and, when it did not complete, why. Inside a sweep a failed
job is recorded and the sweep goes on; a single run that did not complete exits non-zero. Nothing
is written before the run starts writing (RunContext.open, dlproj.runtime.owner): a config error
leaves no run, a refused or failed resume the old record as it was. Sweep jobs that leave no
results.json (not started after a stop, invalid, in use) are noted (dlproj.runtime.sweep).
"""

from __future__ import annotations

import errno
import logging
import shlex
import sys
import time
import traceback
from functools import partial
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from dlproj.config.overrides import override
from dlproj.config.setting import setting_of
from dlproj.environment import collect
from dlproj.errors import (
    FILE_ONLY,
    ConfigError,
    Diverged,
    DlprojError,
    Interrupted,
    cannot_write,
    clean_message,
)
from dlproj.files.records import read_record, record_status
from dlproj.loggers import build_loggers
from dlproj.runtime import allocator, interrupt, sweep, threads
from dlproj.runtime.owner import RunInUse, RunOwner
from dlproj.runtime.validate import validate
from dlproj.training.context import RunContext
from dlproj.training.loop import last_threads

log = logging.getLogger("dlproj")

EXIT_FAILED = 1
EXIT_BAD_CONFIG = 2


def execute(cfg: DictConfig, run_dir: Path | None = None, is_multirun: bool | None = None,
            overrides: list[str] | None = None) -> dict[str, Any]:
    """Validate, run and record one experiment; returns the final record (also in results.json).
    Without `run_dir`, the Hydra job running now gives the directory, mode and overrides."""
    files: dict[str, str] = {}  # Hydra's `.hydra/` files: the owner writes them at commit
    if run_dir is None:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        hc = HydraConfig.get()
        run_dir, is_multirun = hc.runtime.output_dir, hc.mode == RunMode.MULTIRUN
        overrides = list(OmegaConf.to_container(hc.overrides)["task"])  # as typed, `${..}` too
        files[".hydra/hydra.yaml"] = OmegaConf.to_yaml({"hydra": OmegaConf.to_container(hc)})
    run_dir, overrides = Path(run_dir), list(overrides or [])
    files = {".hydra/config.yaml": OmegaConf.to_yaml(cfg),
             ".hydra/overrides.yaml": OmegaConf.to_yaml(OmegaConf.create(overrides)), **files}
    if is_multirun:  # in whichever process it runs, the job stops with its sweep
        sweep.follow()
    if is_multirun and interrupt.requested() is not None:  # the sweep was stopped
        return sweep.note_unrecorded(run_dir, overrides, "not started")
    try:
        with RunOwner(run_dir, files) as owner:
            record, exit_code = _run(cfg, run_dir, bool(is_multirun), overrides, owner)
            if record["status"] != "invalid" or is_multirun:  # a refused run: its paragraph
                # what stderr said (a diverged run's log has it): the file's too
                if record["error"] and record["status"] not in ("invalid", "diverged"):
                    log.info("error: %s", record["error"], extra=FILE_ONLY)
                log.info("status %s in %.1fs%s", record["status"], record["wall_seconds"],
                         f" {brief}" if (brief := _brief(record["metrics"])) else "")
    except RunInUse as exc:  # resume= of a run that is still going: touch nothing of it
        print(f"dlproj: {exc}", file=sys.stderr)
        if not is_multirun:
            sys.exit(EXIT_BAD_CONFIG)
        return sweep.note_unrecorded(run_dir, overrides, "in use")
    if is_multirun and not owner.recorded:  # refused, or a resume that never opened: the
        sweep.note_unrecorded(run_dir, overrides, record["status"])  # sweep's lines read this
    if exit_code and not is_multirun:
        sys.exit(exit_code)
    return record


def _recorded_threads(run_dir: Path) -> dict | None:
    """The thread counts the run in `run_dir` ran with: those its checkpoint was trained with
    (a killed run wrote no record), else its results.json's "threads", if any."""
    threads_used = last_threads(run_dir) or (
        read_record(Path(run_dir) / "results.json") or {}).get("threads")
    return threads_used if isinstance(threads_used, dict) else None


def _run(cfg: DictConfig, run_dir: Path, is_multirun: bool, overrides: list[str],
         owner: RunOwner) -> tuple[dict[str, Any], int]:
    record: dict[str, Any] = {  # None where it does not resolve: validate() refuses it
        **{key: OmegaConf.select(cfg, key, throw_on_resolution_failure=False)
           for key in ("section", "experiment", "seed")},
        "overrides": overrides, "run_dir": str(run_dir), "status": "running",
        "metrics": {}, "error": None}
    started = time.time()
    exit_code = 0
    ctx: RunContext | None = None
    returned = False  # the experiment returned: its figures and files are written
    resume = cfg.get("resume")  # continue `resume=RUN_DIR`: this run's own directory
    refused: OSError | None = None  # the write the disk refused (full, read-only)
    with interrupt.catch_signals():
        try:
            experiment = validate(cfg, overrides)
            if resume and Path(resume).resolve() != run_dir.resolve():
                raise ConfigError(
                    f"Invalid value for 'resume': {resume!r}. Allowed: a run directory, given on "
                    f"its own command line as `python -m dlproj resume=RUN_DIR [train.epochs=N]` "
                    f"(not inside a multirun).")
            # A new run never writes over another one (`hydra.run.dir`/`hydra.sweep.dir` given
            # again): it is refused before anything is written, the old run left as it was.
            held = [n for n in ("results.json", ".hydra") if (run_dir / n).exists()]
            if held and not resume:
                more = ("train.epochs=N (more than it ran) to train it further, where its "
                        "schedule allows" if record_status(
                    run_dir / "results.json") == "completed" else "to continue it")
                raise ConfigError(
                    f"{run_dir} already holds a run ({held[0]}). Allowed: resume={run_dir} "
                    f"{more}, or a new folder: leave out hydra.run.dir / hydra.sweep.dir "
                    f"(a fresh one under outputs/) or name one that does not hold a run.")
            allocator.keep_freed_memory()
            kept = _recorded_threads(run_dir) if resume else None  # what `auto` was then
            plan = threads.apply(cfg, kept)
            ctx = RunContext(cfg, run_dir, is_multirun=is_multirun, resuming=bool(resume),
                             workers=plan.workers, threads=plan.workers * plan.blas,
                             torch_threads=threads.torch_threads(cfg.threads, kept),
                             stop=interrupt.requested, shield=interrupt.shielded, started=started,
                             loggers=build_loggers(cfg, interrupt.given_up_on_a_stop))
            record["threads"] = ctx.thread_counts()
            # said as the run starts writing: a run refused with its data in hand (an early-
            # stopping monitor naming no column) names no folder it then does not make
            uses = f"{ctx.torch_threads} torch thread(s)" if experiment.on_torch else plan
            ctx.on_open = partial(_open, ctx, owner, overrides,
                                  f"section {cfg.section} experiment {cfg.experiment} -> "
                                  f"{run_dir} ({uses})")
            record["metrics"] = experiment.fn(ctx) or {}
            returned = True
            ctx.open()  # one that wrote nothing (checkpoint= evaluations) is a run too
            # A stop that came while its last figure or file was written is not lost.
            ctx.check_stop("at the end of the run")
            record["status"] = "completed"
        except DlprojError as exc:  # printed once, on stderr; results.json keeps it too
            bad_config = isinstance(exc, ConfigError)  # not a run unless it started writing
            record.update(status="invalid" if bad_config and not getattr(ctx, "opened", False)
                          else "failed",
                          error=clean_message(str(exc)))
            record["metrics"] = getattr(exc, "metrics", None) or {}  # what it measured, if any
            print(f"dlproj: {record['error']}", file=sys.stderr)
            exit_code = EXIT_BAD_CONFIG if bad_config else EXIT_FAILED
        except Diverged as exc:
            record.update(status="diverged", error=str(exc))
            log.error("run diverged: %s", exc)
            exit_code = EXIT_FAILED
        except Interrupted as exc:
            record.update(status="interrupted", error=str(exc), signal=exc.signal)
            exit_code = interrupt.exit_code(exc.signum)
        except KeyboardInterrupt:  # a second Ctrl-C, no waiting for a step boundary: below
            pass
        except Exception as exc:  # an experiment bug must not take the sweep down
            if error := cannot_write(exc, run_dir):  # a full or read-only disk is no bug
                refused = exc  # an OSError: cannot_write says None of anything else
            else:
                error = clean_message(f"{type(exc).__name__}: {exc}")
                log.error("run failed:\n%s", traceback.format_exc())
            record.update(status="failed", error=error)
            exit_code = EXIT_FAILED
        finally:
            with interrupt.shielded():  # a second Ctrl-C now would leave no record
                if record["status"] == "running":  # a second Ctrl-C, in the run or an `except`
                    record.update(status="interrupted", error="a second SIGINT (Ctrl-C)",
                                  signal="SIGINT")
                    exit_code = interrupt.exit_code(2)
                if ctx is not None:
                    try:
                        ctx.close()
                    except OSError as exc:  # its last rows are not on disk
                        if (error := cannot_write(exc, run_dir)) is None:
                            raise
                        if record["status"] == "completed":  # then it did not complete
                            record.update(status="failed", error=error)
                            refused, exit_code = exc, EXIT_FAILED
                    if ctx.metrics.rows and not record["metrics"]:
                        record["metrics"] = dict(ctx.metrics.last)
                    if ctx.training is not None:
                        record.update(ctx.training.record())
                # the run's, over the sessions it continues (a resumed run's own: session_seconds)
                session = time.time() - started
                earlier = ctx.earlier_seconds if ctx is not None else 0.0
                record["wall_seconds"] = round(earlier + session, 3)
                if earlier:
                    record["session_seconds"] = round(session, 3)
                try:
                    _finish(cfg, record, owner, ctx, bool(resume), returned)
                except OSError as exc:  # the record itself: the disk is full (or read-only)
                    if (error := cannot_write(exc, run_dir)) is None:
                        raise
                    record.update(status="failed", error=error)
                    refused, exit_code = exc, EXIT_FAILED
    if refused is not None:  # what the disk refused, once, and what to do
        fix = "Make it writable" if refused.errno == errno.EROFS else "Free space on that disk"
        print(f"dlproj: {record['error']}. {fix}, or set DLPROJ_OUTPUTS=DIR to a folder with "
              f"room, and run it again.", file=sys.stderr)
    return record, exit_code


def _open(ctx: RunContext, owner: RunOwner, overrides: list[str], line: str) -> None:
    """RunContext.open's hook: the `line` naming the run's folder is logged, the owner commits,
    then the tracker loggers start (named by the setting's label)."""
    log.info("%s", line)
    owner.commit()
    if ctx.loggers:
        ctx.label = setting_of(OmegaConf.to_container(ctx.cfg, resolve=True), overrides).label
    for logger in ctx.loggers:
        logger.start(ctx)


def _finish(cfg: DictConfig, record: dict[str, Any], owner: RunOwner, ctx: RunContext | None,
            resuming: bool, returned: bool) -> None:
    """Write the record, unless the run never started writing and is not a run (invalid) or
    was a resume (its old record stays as it was)."""
    if record["status"] == "interrupted":
        command = record["resume_command"] = (
            f"{_program()} {shlex.quote(override('resume', record['run_dir']))}")
        done = record.get("last_epoch", 0)
        files = ("with its figures and files written" if returned
                 else "before all its figures and files were written")
        where = (f"after training (epoch {done} of {done}), {files}"
                 if done and done == cfg.train.epochs else f"after epoch {done} of "
                 f"{cfg.train.epochs}" if done else
                 f"in its first epoch (of {cfg.train.epochs}), before any was finished")
        print(f"dlproj: {record['signal']}: stopped {where}; resume with `{command}`",
              file=sys.stderr)
    if record["status"] == "invalid" or (resuming and not getattr(ctx, "opened", False)):
        if resuming and record["status"] != "invalid":
            print(f"dlproj: {owner.run_dir} was not resumed; its record is as it was.",
                  file=sys.stderr)
        return
    record["config"] = OmegaConf.to_container(cfg, resolve=True)
    try:
        record["metadata"] = collect()
    except Exception as exc:  # metadata never fails a run: the error in its place
        record["metadata"] = {"error": f"{type(exc).__name__}: {exc}"}
    setting = setting_of(record["config"], record["overrides"])
    record.update(setting=setting.id, setting_label=setting.label)
    if ctx is not None and not ctx.opened:  # it ended before it wrote (a checkpoint that is no
        # checkpoint): its folder is named and its trackers have its run, as for one that did
        # (a sweep's MLflow parent lacked its failed children)
        ctx.on_open()
    owner.record(record)
    for logger in ctx.loggers if ctx is not None else []:
        logger.finish(record)


def _program() -> str:
    """How this process was started, to be typed again: the `dlproj` console script, else this
    interpreter with `-m dlproj` (a bare `python` may not be the virtualenv's)."""
    if Path(sys.argv[0]).name == "dlproj":
        return shlex.quote(sys.argv[0])
    return f"{shlex.quote(sys.executable)} -m dlproj"


def _brief(metrics: dict[str, Any]) -> str:
    return " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                    for k, v in metrics.items())
