"""The Hydra application behind `python -m dlproj`; here, not in __main__.py, so the job is named
`dlproj` and launchers (joblib, submitit) can pickle it. Each job returns the final metric
`params.objective` names (NaN for a run that did not complete), so a sweeper that optimises
(`hydra/sweeper=section2`, Optuna: a NaN is a failed trial) takes the same application.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import shutil
import sys
import tempfile
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from dlproj import paths
from dlproj.config.compose import normalize_overrides, register_configs

register_configs()


# An absolute path: run as `python -m dlproj`, a relative one would be read as a package.
@hydra.main(version_base="1.3", config_path=str(paths.CONF_DIR), config_name="config")
def run(cfg: DictConfig) -> float:
    from dlproj.experiments.registry import objective_name
    from dlproj.runtime.runner import execute

    # unresolved if it does not resolve: the run refuses it
    given = OmegaConf.select(cfg, "params.objective", throw_on_resolution_failure=False)
    objective = objective_name(cfg)
    record = execute(cfg)
    metrics = record.get("metrics") or {}
    if given is not None and record.get("status") == "completed" and objective not in metrics:
        # only a completed run can say which final metrics it has; a sweeper would see NaN
        print(f"dlproj: params.objective={objective!r} is none of this run's final metrics, "
              f"so what it returns to the sweeper is NaN. Allowed: {', '.join(metrics)}.",
              file=sys.stderr)
    return objective_value(record, objective)


def objective_value(record: dict, objective: str) -> float:
    """The run's final `objective`, or NaN when it did not complete or did not report it."""
    value = record.get("metrics", {}).get(objective)
    if record.get("status") != "completed" or not isinstance(value, int | float):
        return math.nan
    return float(value) if math.isfinite(value) else math.nan


def main() -> None:
    from dlproj.config.overrides import MULTIRUN, check_choices, explain
    from dlproj.errors import ConfigError, check_knobs, stdout_closed
    from dlproj.runtime import interrupt
    from dlproj.runtime.resume import resume_overrides

    # `-m` anywhere: argparse (Hydra's command line) reads no override after a flag that follows
    # one (`dlproj experiment=xor -m seed=0,1`: "unrecognized arguments: seed=0,1").
    argv = [a for a in sys.argv[1:] if a in MULTIRUN] + [
        a for a in sys.argv[1:] if a not in MULTIRUN]
    if any(a.partition("=")[0] == "--experimental-rerun" for a in argv):
        _refuse("--experimental-rerun reads a run's .hydra/config.pickle, which no dlproj run "
                "writes (its owner writes config.yaml, overrides.yaml and hydra.yaml). Allowed: "
                "resume=RUN_DIR to continue a run, or the overrides of RUN_DIR/.hydra/"
                "overrides.yaml again on the command line for a new run of the same setting.")
    _check_flags(argv)
    try:
        check_knobs()  # the same for every job of a sweep: refused once, before it starts
        args = resume_overrides(normalize_overrides(argv))
        check_choices(args)
    except ConfigError as exc:
        _refuse(str(exc))
    _check_outputs(args)
    # `hydra/launcher=joblib` and `submitit_local` are dlproj's, whose sweeps outlive a killed
    # worker or job (without the `launchers` extra there are none).
    with contextlib.suppress(ImportError):
        from dlproj.runtime.joblib_launcher import register
        register()
    with contextlib.suppress(ImportError):
        from dlproj.runtime.submitit_launcher import register as register_local
        register_local()
    with contextlib.suppress(ImportError):  # no cluster: one paragraph, as hydra/launcher=slurm
        from dlproj.runtime.slurm_launcher import register_submitit_slurm
        register_submitit_slurm()
    with contextlib.suppress(ImportError):  # Optuna's study goes on past a failed trial
        from dlproj.runtime.optuna_sweeper import register as register_optuna
        register_optuna()
    sys.argv = [sys.argv[0], *args]
    # Hydra raises what it cannot compose (else it prints a search path or a stack trace);
    # it is said here in one paragraph. HYDRA_FULL_ERROR=1 set by the user still shows it all.
    full_error = os.environ.get("HYDRA_FULL_ERROR") == "1"
    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        # Between a sweep's jobs too; a signal to the sweep reaches its workers.
        with interrupt.catch_signals():
            run()
    except SystemExit as exc:
        if exc.code == 2:  # refused: a config error, the run never started
            _drop_made()
        raise
    except KeyboardInterrupt:
        _refuse("stopped (second Ctrl-C)", 130)
    except BrokenPipeError:  # `--cfg job | head`: its reader is gone, nothing else went wrong
        sys.exit(stdout_closed())
    except Exception as exc:
        from dlproj.runtime.validate import param_readers  # an error's path: read only then

        message = None if full_error else explain(exc, args, param_readers)
        if message is None and not full_error and isinstance(exc, OSError) and exc.filename:
            # a folder Hydra makes before any run owns it (hydra.run.dir, hydra.sweep.dir)
            _refuse(f"cannot make or write {exc.filename}: {exc.strerror}. Allowed: "
                    f"hydra.run.dir / hydra.sweep.dir naming a folder this user can make and "
                    f"write (not a file, nor inside one), or leave them out.", 1)
        if message is None:
            raise
        _drop_made()
        _refuse(message)
    finally:
        if not full_error:
            os.environ.pop("HYDRA_FULL_ERROR", None)


def _drop_made() -> None:
    """A command refused before its run or sweep wrote leaves nothing: the folders Hydra made
    for it (noted by the sweep callback as it started: sweep.made_next), a sweep's holding only
    its multirun.yaml; one that holds anything else stays."""
    from dlproj.runtime.sweep import ENV_MADE

    for folder in map(Path, filter(None, os.environ.pop(ENV_MADE, "").split(os.pathsep))):
        if folder.is_dir() and {p.name for p in folder.iterdir()} <= {"multirun.yaml"}:
            shutil.rmtree(folder, ignore_errors=True)


def _check_flags(argv: list[str]) -> None:
    """Hydra's own command line, read by its own parser: a flag it does not know (`--foo`,
    `--cfg jb`) is one paragraph, where argparse printed Hydra's usage as `__main__.py`'s."""
    from hydra._internal.utils import get_args_parser

    flags = get_args_parser()  # its own --help: argparse's would print and exit
    flags.error = lambda message: _refuse(  # type: ignore[method-assign]
        f"{message}. Allowed: `python -m dlproj --help` shows the forms a command line takes; "
        f"`--hydra-help` Hydra's flags.")
    said = flags.parse_args(argv)
    if said.info or said.cfg or said.help or said.hydra_help:
        # Hydra logs what it shows: `| head` would end in a "Logging error" per line
        logging.raiseExceptions = False


def _refuse(message: str, code: int = 2) -> None:
    """One paragraph on stderr, then exit `code` (2: a command line dlproj cannot run)."""
    print(f"dlproj: {message}", file=sys.stderr)
    sys.exit(code)


def _check_outputs(args: list[str]) -> None:
    """The outputs folder can be made and written, or one paragraph and exit 1 before Hydra
    starts (it would end in a traceback making the run or sweep directory, or writing the
    sweep's multirun.yaml on a full disk)."""
    if any(a.startswith(("--help", "-h", "--hydra-help", "--cfg", "-c", "--info", "resume="))
           for a in args):  # a resume writes into its own run directory only
        return
    root = paths.outputs_root()
    try:  # made by Hydra, with the run: a refused one leaves none; probed where it would be
        made = next(p for p in (root, *root.parents) if p.exists())
        with tempfile.TemporaryFile(dir=made) as probe:  # unnamed; a full disk refuses a byte
            probe.write(b"\0")
            probe.flush()
    except OSError as exc:
        _refuse(f"cannot write the outputs folder {root}: {exc.strerror or exc}. Allowed: a "
                f"folder this user can write to, on a disk with room, as DLPROJ_OUTPUTS=DIR "
                f"(default: outputs/ in the project).", 1)
