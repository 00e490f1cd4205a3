"""The plan of a study: every job, its state and where it runs, from the study and the runs
already under the outputs folder (docs/report.md, *How it runs*). Starts no process, reaches no
network, writes nothing.

A job's state:
  run      runs in the sweep, in `<sweep dir>/<num>`
  resume   interrupted, or killed after its first checkpoint (its directory lock free):
           continues in place from its `last.*`
  done     a completed (or diverged) run of its (setting, seed) is there: skipped
  invalid  does not compose or validate, or needs a step's run that cannot be made
  twin     another step runs the same (setting, seed) (`mlp` is the activation study's ReLU)
  running  still going in another process (its run's lock is held), or queued by one: left to it
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from contextlib import nullcontext, suppress
from dataclasses import dataclass
from pathlib import Path

from dlproj.config.cache import ComposeCache
from dlproj.config.overrides import override
from dlproj.config.study import Step, Study
from dlproj.errors import ConfigError
from dlproj.runtime.owner import in_use
from dlproj.runtime.resume import continue_in_sweep

STATES = ("run", "resume", "done", "invalid", "twin", "running")
RUN_REF = re.compile(r"\{run:([a-z0-9_]+)\}")


@dataclass
class Job:
    step: Step
    index: int  # the step's number in the study, 1-based
    overrides: list[str]  # the step's combination, `{run:STEP}` filled in by `plan`
    seed: int
    setting: str | None = None
    state: str = "run"  # one of STATES
    reason: str = ""
    prior: Path | None = None  # the run that makes it done or running, or the one to resume
    phase: int = 0
    num: int | None = None  # job number in the sweep (run and resume only)
    result: Path | None = None  # where its results.json appears
    launch: list[str] | None = None  # what the sweep runs: its overrides, or the resume hand-off
    status: str | None = None  # how it ended (set by the launcher)
    wall: float | None = None

    @property
    def label(self) -> str:
        shown = [o for o in self.overrides if o not in self.step.args()]
        return " ".join(shown) or "defaults"


@dataclass
class Plan:
    jobs: list[Job]  # every job of the study, in its order
    todo: list[Job]  # the jobs to launch (run, resume), by number

    def counts(self) -> dict[str, int]:
        return {state: sum(j.state == state for j in self.jobs) for state in STATES}


def plan(study: Study, outputs: Path, *, sweep_dir: Path, force: bool = False,
         cache: ComposeCache | None = None) -> Plan:
    """Every job of `study` against the runs under `outputs`; the ones to run are numbered for a
    sweep into `sweep_dir`. `cache` (default: the outputs folder's, read only) is filled in."""
    jobs = with_settings(study, outputs, cache)
    _check_run_refs(jobs, study.name)
    _decide(jobs, outputs, force)
    steps = {step.id: step for step in study.steps}  # those run here (--sections, `when:`)
    for job in jobs:  # a step with `after:` runs once the step it names is through
        step, depth = job.step, 0
        while step.after in steps and depth < len(steps):
            step, depth = steps[step.after], depth + 1
        job.phase = depth
    return Plan(jobs, _number(jobs, outputs, sweep_dir))


def with_settings(study: Study, outputs: Path, cache: ComposeCache | None = None) -> list[Job]:
    """Every job of the study (one per combination and seed) with its setting id, or `invalid`
    with the reason when its config does not compose or validate."""
    from omegaconf import OmegaConf

    from dlproj.config.checks import files_written_later
    from dlproj.config.compose import compose_config
    from dlproj.config.setting import setting_id
    from dlproj.runtime.validate import validate

    cache = cache if cache is not None else ComposeCache(outputs)
    jobs, found = [], {}
    for index, step in enumerate(study.steps, 1):
        for overrides in step.jobs():
            seed = next((int(o.split("=", 1)[1]) for o in overrides if o.startswith("seed=")), 0)
            job = Job(step, index, overrides, seed)
            jobs.append(job)
            # Another run's directory counts by its checkpoint's file name only
            # (dlproj.config.setting): a placeholder directory stands for it.
            key = tuple(_fill([o for o in overrides if not o.startswith("seed=")],
                              lambda step_id: _placeholder(outputs, step_id)))
            if found.setdefault(key, cache.get("settings", key)) is None:
                try:
                    cfg = compose_config(list(key))
                    # A file an earlier step writes ({run:STEP}/model.pt) is not there yet.
                    later = any(RUN_REF.search(o) for o in overrides)
                    with files_written_later() if later else nullcontext():
                        validate(cfg, list(key))  # its groups: read by the experiment?
                    found[key] = cache.put("settings", key, setting_id(OmegaConf.to_container(
                        cfg, resolve=True)))
                except Exception as exc:  # a config that does not compose or validate
                    found[key] = exc
            if isinstance(found[key], Exception):
                job.state = "invalid"
                job.reason = f"{type(found[key]).__name__}: {found[key]}".splitlines()[0]
            else:
                job.setting = found[key]
    return jobs


def _fill(overrides: list[str], run_dir: Callable[[str], str]) -> list[str]:
    """Each `{run:STEP}` replaced by `run_dir(STEP)`, a run's folder, its override quoted for
    Hydra where the folder needs it (a comma, a space: overrides.override)."""
    filled = []
    for o in overrides:
        key, _, value = o.partition("=")
        filled.append(override(key, RUN_REF.sub(lambda m: run_dir(m[1]), value))
                      if RUN_REF.search(value) else o)
    return filled


def _placeholder(outputs: Path, step_id: str) -> str:
    return str(outputs / "pending" / step_id)


def _decide(jobs: list[Job], outputs: Path, force: bool) -> None:
    """Each job's state from the newest run of its (setting, seed) there, by what a job can make
    of it."""
    from dlproj.report.runs import DONE, read_runs
    from dlproj.training.loop import has_last_checkpoint

    runs, _ = read_runs(outputs, curves=False)
    found: dict[str, dict[tuple, Path]] = {"done": {}, "interrupted": {}, "running": {}}
    running = _queued(outputs)  # (setting, seed) -> why it is left to another process
    for row in runs.sort_values("finished", ascending=False).itertuples():
        key, path = (row.setting, row.seed), Path(row.path)
        if row.status in DONE:
            found["done"].setdefault(key, path)
        elif row.status == "interrupted":
            found["interrupted"].setdefault(key, path)
        elif row.status == "incomplete":  # no results.json: still running, or killed
            if in_use(path):
                found["running"].setdefault(key, path)
            elif has_last_checkpoint(path):  # killed (SIGKILL, a crash) after an epoch
                found["interrupted"].setdefault(key, path)
    running.update({k: f"running in another process: {p}" for k, p in found["running"].items()})
    planned: dict[tuple[str, int], int] = {}  # (setting, seed) -> the step that runs it
    for job in jobs:
        if job.state == "invalid":
            continue
        key = (job.setting, job.seed)
        if key in found["done"] and not force:
            job.state, job.prior = "done", found["done"][key]
        elif key in planned:  # two steps share a run (`mlp` and `activations`)
            job.state, job.reason = "twin", f"the same run as step {planned[key]}"
            continue
        elif key in running and not force:  # started, or queued by a reproduce still going
            job.state, job.prior, job.reason = "running", found["running"].get(key), running[key]
        elif key in found["interrupted"] and not force:
            job.prior = found["interrupted"][key]
            job.launch = continue_in_sweep(job.prior)
            job.state = "resume" if job.launch else "run"
        planned[key] = job.index


def _queued(outputs: Path) -> dict[tuple, str]:
    """(setting, seed) -> why, for the jobs of each sweep (jobs.json) the reproduce holding
    `outputs` (its lock: cli.hold_outputs) started since it took it and has not summed up yet."""
    lock, queued = outputs / "reproduce" / "lock", {}
    if in_use(lock):
        why = f"queued by another reproduce ({lock.read_text().strip()})"
        for jobs in lock.parent.glob("*/**/jobs.json"):  # <stamp>_<study>/[from_the_start/]
            with suppress(OSError, ValueError, TypeError, KeyError):  # gone, or not one of ours
                if jobs.stat().st_mtime_ns >= lock.stat().st_mtime_ns and not any(
                        (d / "summary.json").exists() for d in jobs.parents[:2]):
                    queued.update({(j["setting"], j["seed"]): f"{why}: {jobs}"
                                   for j in json.loads(jobs.read_text())})
    return queued


def _check_run_refs(jobs: list[Job], study: str) -> None:
    """Each `{run:STEP}` names the run of the one job of the step its own comes `after:`, run
    here: otherwise it would read a run that is not made yet, or one of several (ConfigError)."""
    made_by = Counter(j.step.id for j in jobs)
    for job in jobs:
        for ref in {ref for o in job.overrides for ref in RUN_REF.findall(o)}:
            made = made_by[ref]
            where = f"In study '{study}', step '{job.step.id}': `{{run:{ref}}}`"
            if ref != job.step.after:
                raise ConfigError(f"{where} without `after: {ref}`. Allowed: the run of the "
                                  f"step it comes after ({job.step.after or 'none'}), so that "
                                  "it is made first.")
            if made != 1:
                raise ConfigError(f"{where}: step '{ref}' has {made} jobs here. Allowed: a "
                                  "step of exactly one job (one seed, no swept value), in the "
                                  "sections run (--sections).")


def _number(jobs: list[Job], outputs: Path, sweep_dir: Path) -> list[Job]:
    """Number the jobs to launch (phase by phase, longest first) and fill in `{run:STEP}`."""
    first = {}  # each step's first job: the one of a step a `{run:STEP}` names
    for job in jobs:
        first.setdefault(job.step.id, job)
    source = first.__getitem__

    def run_dir(ref: str) -> str:  # STEP's run: done before, made in this sweep, or neither
        made = source(ref)
        return str(made.prior if made.state == "done" else made.result.parent
                   if made.result is not None else _placeholder(outputs, ref))

    # A done run that lost the file a job to run reads from it ({run:STEP}/model.pt) runs again.
    for o in (o for j in jobs if j.state in ("run", "resume") for o in j.overrides):
        for made in map(source, RUN_REF.findall(o)):
            needed = Path(RUN_REF.sub(lambda m: str(source(m[1]).prior), o.partition("=")[2]))
            if made.state == "done" and not needed.exists():
                made.state, made.reason = "run", f"{made.prior} lacks {needed.name}"
    # A job whose source cannot run cannot either (phase order: a chain fails as a whole).
    for job in sorted(jobs, key=lambda j: j.phase):
        cannot = [ref for o in job.overrides for ref in RUN_REF.findall(o)
                  if source(ref).state not in ("done", "run", "resume")]
        if cannot and job.state in ("run", "resume"):
            job.state, job.reason = "invalid", f"needs step '{cannot[0]}', which cannot run"
    todo = sorted((j for j in jobs if j.state in ("run", "resume")),
                  key=lambda j: (j.phase, -j.step.cost))
    for num, job in enumerate(todo):
        job.num = num
        job.result = (job.prior if job.state == "resume" else sweep_dir / str(num)) / "results.json"
    for job in jobs:
        job.overrides = _fill(job.overrides, run_dir)
    for job in todo:
        job.launch = job.launch if job.state == "resume" else list(job.overrides)
    return todo
