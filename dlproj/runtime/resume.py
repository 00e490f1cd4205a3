"""`python -m dlproj resume=RUN_DIR [train.epochs=N]`: continue a run in its own directory.

The command line becomes the run's own overrides plus `hydra.run.dir=RUN_DIR` before Hydra
composes anything; the training loop then checks the recomposed config against its checkpoint's
(dlproj.training.resume_rules).
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

from dlproj.config.compose import normalize_overrides
from dlproj.config.overrides import MULTIRUN, as_written, override, value_of
from dlproj.errors import ConfigError
from dlproj.training.resume_rules import RESUME_MAY_CHANGE, may_change


def resume_overrides(args: list[str]) -> list[str]:
    """`resume=RUN_DIR [train.epochs=N]` -> the run's saved overrides, in its own directory.
    Given overrides must be allowed changes (RESUME_MAY_CHANGE) or repeat the saved ones."""
    resume = [a for a in args if a.startswith("resume=")]
    if not resume:
        return args
    if len(resume) > 1 or any(a in MULTIRUN or _multirun(a) for a in args):
        raise ConfigError("resume=RUN_DIR continues one run: give it once, without -m.")
    folder = _folder(resume[0])
    if not folder.strip():  # '' is no folder (resolved, it would be the cwd)
        raise ConfigError(
            f"Invalid value for 'resume': {folder!r}. Allowed: a run directory, as printed by "
            f"the interrupted run (`resume=.` for the current one).")
    run_dir = Path(folder).expanduser().resolve()
    saved = saved_overrides(run_dir)
    given = [a for a in args if not a.startswith("resume=")]
    said = {as_written([o]) for o in saved}  # `figures=false` repeats the saved `figures=False`
    refused = [a for a in given if as_written([a]) not in said and not may_change(_key(a))]
    if refused:
        raise ConfigError(
            f"Cannot resume {run_dir} with {' '.join(refused)}: resume continues the run with "
            f"its own config ({as_written(saved) or 'no overrides'}). Allowed changes: "
            f"train.epochs=N to train further, and "
            f"{', '.join(k + '*' if k[-1] in '._' else k for k in RESUME_MAY_CHANGE[1:])} (but "
            f"hydra.run.dir: the run's own folder). Start a new run for anything else.")
    moved = [a for a in given if _key(a) == "hydra.run.dir"
             and Path(value_of(a)).expanduser().resolve() != run_dir]
    if moved:  # it would be overridden by the run's own folder, without a word
        raise ConfigError(
            f"Cannot resume {run_dir} with {moved[0]}: resume continues the run in its own "
            f"folder. Allowed: leave hydra.run.dir out (to continue a copy elsewhere, copy the "
            f"folder and give resume= the copy).")
    changed = {_key(a) for a in given}
    kept = [o for o in saved if _key(o) not in changed]
    return [*kept, *given, override("resume", run_dir), override("hydra.run.dir", run_dir)]


def continue_in_sweep(run_dir: Path) -> list[str] | None:
    """THE place where a sweep job (`make reproduce`'s) hands an interrupted run to
    `resume=RUN_DIR`: it continues in place (Hydra writes no .hydra/ there:
    `hydra.output_subdir: null`) with the overrides it was started with; without that record
    None, and the job reruns from scratch."""
    try:
        own = saved_overrides(run_dir)
    except ConfigError:
        return None  # no record of how it was started: run it again from scratch
    return [*own, override("resume", run_dir), override("hydra.sweep.dir", run_dir.parent),
            override("hydra.sweep.subdir", run_dir.name)]


def _folder(arg: str) -> str:
    """The folder `resume=FOLDER` names: its value as Hydra reads it, or, where Hydra reads no
    single value there (`~/outputs/...`, a comma, a quote, `${`: a path as the shell passed it,
    which is never swept or interpolated), the text as written."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    try:
        return value_of(arg)
    except (HydraException, OmegaConfBaseException, ValueError):
        return arg.partition("=")[2]


def _multirun(arg: str) -> bool:
    """`hydra.mode=MULTIRUN`: a multirun, as -m asks for one."""
    return _key(arg) == "hydra.mode" and arg.partition("=")[2].strip("'\"").upper() == "MULTIRUN"


def saved_overrides(run_dir: Path) -> list[str]:
    """The overrides a run was started with (RUN_DIR/.hydra/overrides.yaml), `resume=` aside."""
    saved_file = Path(run_dir) / ".hydra" / "overrides.yaml"
    if not saved_file.is_file():
        raise ConfigError(
            f"Invalid value for 'resume': {str(run_dir)!r} is not a dlproj run directory (no "
            f".hydra/overrides.yaml in it). Allowed: a folder under outputs/runs/ or "
            f"outputs/multirun/<stamp>/<job>/, as printed by the interrupted run.")
    try:
        saved = OmegaConf.to_container(OmegaConf.load(saved_file))
    except Exception as exc:  # noqa: BLE001 - YAML or OmegaConf: the file is damaged either way
        saved = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
    if isinstance(saved, list) and all(isinstance(o, str) for o in saved):
        saved = normalize_overrides(saved)  # `section=2` as dlproj writes it: section='2'
        if (unreadable := _unreadable(saved)) is None:
            return [o for o in saved if not o.startswith("resume=")]
        saved = unreadable  # the user's own command line is not what Hydra could not read
    raise ConfigError(
        f"Cannot resume {run_dir}: {saved_file} is damaged ({str(saved)[:200]}); it should "
        f"be the list of the run's overrides. Allowed: repair it (one `- key=value` line per "
        f"override, as the run was started), or start a new run.")


def _unreadable(overrides: list[str]) -> str | None:
    """What Hydra's override parser says of the first of `overrides` it cannot read (None: it
    reads them all)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    parser = OverridesParser.create()
    for given in overrides:
        try:
            parser.parse_override(given)
        except HydraException as exc:  # OverrideParseException, or the grammar's own
            return f"{given!r}: {' '.join(str(exc).split())}"
    return None


def _key(override: str) -> str:
    return override.partition("=")[0].lstrip("+~")
