"""`python -m dlproj.reproduce [--study course|quick]`: a study's experiments, then the report.

The study is configuration (`conf/study/NAME.yaml`, see dlproj/study.py). Each step expands into
jobs (one per combination and seed). A job whose (setting, seed) already completed under the
outputs folder is skipped (`--force` reruns it); an interrupted one, or one killed after its
first checkpoint (no results.json, its directory lock free: dlproj.runtime.runlock), continues
in place from its `last.*`; one still running in another process is left to it; the rest run
side by side through ONE Hydra multirun: `hydra/sweeper=joblist`
(hydra_plugins/dlproj_joblist_sweeper) hands exactly these jobs to Hydra's launcher, joblib with
`--jobs N` workers by default, or `--launcher submitit_local|slurm` (the same jobs on a cluster).
Jobs that need another step's run (`after:`) go in a later phase. Progress: a line per finished
job (step k/K, jobs done/total, elapsed, ETA); at the end a summary (completed / failed /
skipped, wall time) and the report.

Where Oxford-IIIT Pet (or the ImageNet weights) can be neither read nor downloaded, Section 4
runs on its offline dataset, MNIST, and says so in one line.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from dlproj import paths
from dlproj.config import study as studies
from dlproj.config.study import Step, Study
from dlproj.runtime.runlock import in_use

LAUNCHERS = ("joblib", "submitit_local", "slurm")
_RUN_REF = re.compile(r"\{run:([a-z0-9_]+)\}")


@dataclass
class Section4Data:
    """What Section 4 can use here: the study's Pets (+ ImageNet weights), or offline MNIST."""

    pets: bool
    imagenet: bool
    notice: str | None

    @property
    def conditions(self) -> set[str]:
        return {"imagenet"} if self.pets and self.imagenet else {"no_imagenet"}

    @property
    def substitutions(self) -> dict[str, str]:
        return {"dataset4": "pets" if self.pets else "mnist"}


def _reachable(host: str, timeout: float = 3.0) -> bool:
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def _torch_hub_dir() -> Path:
    home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "torch")
    return Path(home) / "hub"


def section4_data(downloads: bool) -> Section4Data:
    """Pets when on disk (or, with `downloads`, downloadable); ImageNet weights likewise."""
    pets_dir = paths.data_root() / "oxford-iiit-pet"
    pets = (pets_dir / "images").is_dir() and (pets_dir / "annotations").is_dir()
    weights = _torch_hub_dir() / "checkpoints" / "resnet18-f37072fd.pth"
    imagenet = weights.is_file()
    if downloads:
        pets = pets or _reachable("thor.robots.ox.ac.uk")
        imagenet = imagenet or _reachable("download.pytorch.org")
    notice = None
    if not pets:
        notice = (f"Section 4: Oxford-IIIT Pet is neither in {pets_dir} nor downloadable here, "
                  "so Section 4 runs on its offline dataset, MNIST (transfer: digits 0-4 -> 5-9).")
    elif not imagenet:
        notice = (f"Section 4: the ImageNet ResNet18 weights are neither in {weights.parent} nor "
                  "downloadable here, so transfer runs offline: MNIST digits 0-4 -> 5-9.")
    return Section4Data(pets, imagenet, notice)


@dataclass
class Job:
    step: Step
    index: int  # the step's number in the study, 1-based
    overrides: list[str]
    seed: int
    setting: str | None = None
    # run | done (skipped) | resume | invalid | twin (another step runs it) | running (elsewhere)
    state: str = "run"
    reason: str = ""
    prior: Path | None = None  # the run that makes it done, or the interrupted one to resume
    phase: int = 0
    num: int | None = None  # job number in the sweep
    result: Path | None = None  # where its results.json appears
    status: str | None = None  # how it ended
    wall: float | None = None

    @property
    def label(self) -> str:
        shown = [o for o in self.overrides if o not in self.step.args()]
        return " ".join(shown) or "defaults"


def _resume_overrides(run_dir: Path) -> list[str] | None:
    """THE place where an interrupted run is handed to `python -m dlproj resume=RUN_DIR`.

    The run continues in place from its checkpoint, with the overrides it was started with
    (RUN_DIR/.hydra/overrides.yaml): the job's output directory is RUN_DIR itself, and Hydra
    does not rewrite RUN_DIR/.hydra/ (`hydra.output_subdir=null`); the training loop checks the
    composed config against the checkpoint's. A run without that record: None, and the job
    reruns from scratch in a new directory (the report lists the old run as superseded).
    """
    from dlproj.runtime.resume import UsageError, saved_overrides

    try:
        own = saved_overrides(run_dir)
    except UsageError:
        return None  # no record of how it was started: run it again from scratch
    return [*own, f"resume={run_dir}", f"hydra.sweep.dir={run_dir.parent}",
            f"hydra.sweep.subdir={run_dir.name}", "hydra.output_subdir=null"]


def _expand(study: Study) -> list[Job]:
    jobs = []
    for index, step in enumerate(study.steps, 1):
        for overrides in step.jobs():
            seed = next((int(o.split("=", 1)[1]) for o in overrides if o.startswith("seed=")), 0)
            jobs.append(Job(step, index, overrides, seed))
    return jobs


def _placeholder_dir(outputs: Path, step_id: str) -> str:
    return str(outputs / "pending" / step_id)


class _SettingCache:
    """Setting ids of composed job overrides, valid while conf/ and the schema are unchanged.

    Composing a config takes a fraction of a second; a rerun with nothing to do would spend most
    of its time on it. The cache is keyed by a hash of every file the composition reads (conf/
    and dlproj/config/schema.py), so any change there recomposes everything.
    """

    def __init__(self, path: Path) -> None:
        import hashlib

        digest = hashlib.sha1()
        files = sorted(paths.CONF_DIR.rglob("*.yaml")) + [paths.PACKAGE_DIR / "config" /
                                                          "schema.py"]
        for file in files:
            digest.update(file.relative_to(paths.PROJECT_ROOT).as_posix().encode())
            digest.update(file.read_bytes())
        self.path, self.fingerprint, self.settings = path, digest.hexdigest(), {}
        self.changed = False
        try:
            saved = json.loads(path.read_text())
            if saved.get("fingerprint") == self.fingerprint:
                self.settings = dict(saved.get("settings", {}))
        except (OSError, ValueError, AttributeError):
            pass

    @staticmethod
    def _key(overrides: tuple) -> str:
        return "\x1f".join(overrides)

    def get(self, overrides: tuple) -> str | None:
        return self.settings.get(self._key(overrides))

    def put(self, overrides: tuple, setting: str) -> str:
        self.settings[self._key(overrides)] = setting
        self.changed = True
        return setting

    def save(self) -> None:
        if self.changed:
            from dlproj.files.atomic import write_json

            write_json(self.path, {"fingerprint": self.fingerprint, "settings": self.settings})


def plan(study: Study, outputs: Path, *, force: bool = False, save: bool = True) -> list[Job]:
    """Every job of the study with its state: done (a completed run of its setting and seed is
    under `outputs`), resume (interrupted), run, or invalid (does not compose or validate)."""
    from dlproj.config.checks import files_written_later
    from dlproj.config.compose import compose_config
    from dlproj.config.setting import setting_id
    from dlproj.config.validate import validate
    from dlproj.report.runs import DONE, read_runs
    from dlproj.training.loop import has_last_checkpoint

    runs, _ = read_runs(outputs, curves=False)
    runs = runs.sort_values("finished", ascending=False)
    done: dict[tuple, Path] = {}
    interrupted: dict[tuple, Path] = {}
    running: dict[tuple, Path] = {}
    for row in runs.itertuples():
        key = (row.setting, row.seed)
        if row.status in DONE:
            done.setdefault(key, row.path)
        elif row.status == "interrupted":
            interrupted.setdefault(key, row.path)
        elif row.status == "incomplete":  # no results.json: still running, or killed
            if in_use(Path(row.path)):
                running.setdefault(key, row.path)
            elif has_last_checkpoint(Path(row.path)):  # killed (SIGKILL, a crash) after an epoch
                interrupted.setdefault(key, row.path)

    from omegaconf import OmegaConf

    jobs = _expand(study)
    cache = _SettingCache(outputs / "reproduce" / "settings-cache.json")
    settings: dict[tuple, str | Exception] = {}
    planned: dict[tuple[str, int], int] = {}  # (setting, seed) -> the step that runs it
    for job in jobs:
        # Another run's directory counts by its checkpoint's file name only (dlproj.config.setting).
        overrides = [_RUN_REF.sub(lambda m: _placeholder_dir(outputs, m.group(1)), o)
                     for o in job.overrides]
        key = tuple(o for o in overrides if not o.startswith("seed="))
        if key not in settings:
            settings[key] = cache.get(key)
        if settings[key] is None:
            try:
                cfg = compose_config(list(key))
                # A file an earlier step writes ({run:STEP}/model.pt) is not there yet.
                later = any(_RUN_REF.search(o) for o in job.overrides)
                with files_written_later() if later else nullcontext():
                    validate(cfg)
                settings[key] = cache.put(key, setting_id(OmegaConf.to_container(cfg,
                                                                                 resolve=True)))
            except Exception as exc:  # a config that does not compose or validate: not a run
                settings[key] = exc
        found = settings[key]
        if isinstance(found, Exception):
            job.state, job.reason = "invalid", f"{type(found).__name__}: {found}".splitlines()[0]
            continue
        job.setting = found
        if (found, job.seed) in done and not force:
            job.state, job.prior = "done", done[(found, job.seed)]
        elif (found, job.seed) in planned:  # two steps share a run (`mlp` and `activations`)
            job.state, job.reason = "twin", f"the same run as step {planned[(found, job.seed)]}"
            continue
        elif (found, job.seed) in running and not force:
            job.state, job.prior = "running", running[(found, job.seed)]
            job.reason = f"running in another process: {job.prior}"
        elif (found, job.seed) in interrupted and not force:
            job.prior = interrupted[(found, job.seed)]
            job.state = "resume" if _resume_overrides(job.prior) else "run"
        planned[(found, job.seed)] = job.index
    if save:  # a dry run writes nothing
        cache.save()
    # Phases: a step with `after:` runs once the step it names is through.
    for job in jobs:
        step, depth = job.step, 0
        while step.after is not None and depth < len(study.steps):
            step, depth = study.step(step.after), depth + 1
        job.phase = depth
    return jobs


def assign(jobs: list[Job], outputs: Path, sweep_dir: Path) -> list[Job]:
    """Number the jobs to launch (phase by phase, longest first) and fill in `{run:STEP}`."""
    todo = [j for j in jobs if j.state in ("run", "resume")]
    todo.sort(key=lambda j: (j.phase, -j.step.cost))
    for num, job in enumerate(todo):
        job.num = num
        job.result = (job.prior if job.state == "resume" else sweep_dir / str(num)) / "results.json"
    for job in jobs:
        for i, override in enumerate(job.overrides):
            for ref in _RUN_REF.findall(override):
                (source, *more) = [j for j in jobs if j.step.id == ref]
                if more:
                    raise ValueError(f"{{run:{ref}}}: step '{ref}' has {1 + len(more)} jobs; "
                                     "it must have exactly one")
                if source.state == "done":
                    run_dir = source.prior
                elif source.result is not None:
                    run_dir = source.result.parent
                else:
                    job.state, job.reason = "invalid", f"needs step '{ref}', which cannot run"
                    run_dir = Path(_placeholder_dir(outputs, ref))
                override = override.replace(f"{{run:{ref}}}", str(run_dir))
            job.overrides[i] = override
    return [j for j in todo if j.state in ("run", "resume")]


def _fmt_time(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


@dataclass
class Progress:
    jobs: list[Job]
    steps: int
    workers: int
    started: float = field(default_factory=time.time)

    def eta(self) -> float:
        finished = [j for j in self.jobs if j.status is not None]
        left = sum(j.step.cost for j in self.jobs if j.status is None)
        if not finished:
            return left / self.workers
        rate = (time.time() - self.started) / sum(j.step.cost for j in finished)
        return left * rate

    def line(self, job: Job) -> str:
        done = sum(j.status is not None for j in self.jobs)
        return (f"[{done}/{len(self.jobs)} jobs, {_fmt_time(time.time() - self.started)} elapsed, "
                f"ETA {_fmt_time(self.eta())}] step {job.index}/{self.steps} {job.step.title}: "
                f"{job.label}: {job.status}"
                + (f" in {job.wall:.0f}s" if job.wall is not None else ""))


def _mtime(path: Path) -> int | None:
    return path.stat().st_mtime_ns if path.is_file() else None


def launch(todo: list[Job], *, steps: int, outputs: Path, sweep_dir: Path, log_dir: Path,
           workers: int, launcher: str) -> bool:
    """Run the jobs through one Hydra multirun and report each as it finishes; True when Ctrl-C
    stopped it."""
    from dlproj.config.compose import normalize_overrides
    from dlproj.files.atomic import write_json

    jobs_file = log_dir / "jobs.json"
    write_json(jobs_file, [{"num": j.num, "phase": j.phase, "overrides": normalize_overrides(
        _resume_overrides(j.prior) if j.state == "resume" else j.overrides)} for j in todo])
    cmd = [sys.executable, "-m", "dlproj", "-m", "hydra/sweeper=joblist",
           f"hydra.sweeper.jobs_file={jobs_file}", f"hydra/launcher={launcher}",
           f"hydra.sweep.dir={sweep_dir}", "~hydra.callbacks.aggregate"]
    env = {**os.environ, "DLPROJ_OUTPUTS": str(outputs), "DLPROJ_PROGRESS": "0"}
    if launcher == "joblib":
        cmd.append(f"hydra.launcher.n_jobs={workers}")
    if launcher != "slurm":  # jobs share this machine: BLAS/torch threads = cores / jobs
        env["DLPROJ_JOBS"] = str(workers)
    log_path = log_dir / "sweep.log"
    print(f"python -m dlproj {' '.join(cmd[3:])}\n  log: {log_path}", flush=True)
    progress = Progress(todo, steps, workers)
    # A resumed job's results.json is already there (its interrupted record): wait for a new one.
    before = {j.num: _mtime(j.result) for j in todo}
    stopped = False
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, cwd=paths.PROJECT_ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT)
        while True:
            try:
                running = proc.poll() is None
                for job in todo:
                    if job.status is None and _mtime(job.result) not in (None, before[job.num]):
                        try:
                            record = json.loads(job.result.read_text())
                        except (OSError, ValueError):
                            continue
                        job.status, job.wall = str(record.get("status")), \
                            record.get("wall_seconds")
                        print(progress.line(job), flush=True)
                if not running:
                    break
                time.sleep(1)
            except KeyboardInterrupt:
                if stopped:  # a second Ctrl-C: leave now
                    proc.kill()
                    break
                stopped = True
                # SIGTERM is safe whether or not the sweep got the Ctrl-C itself: its jobs stop
                # at the next step and record where (dlproj.runtime.interrupt).
                proc.send_signal(signal.SIGTERM)
                print("reproduce: stopping; the running jobs record where they stopped "
                      "(Ctrl-C again to leave now). Run the same command to go on.", flush=True)
    for job in todo:
        if job.status is None:
            job.status, job.reason = ("not started" if stopped else "failed"), \
                f"left no results.json (exit {proc.returncode}; see {log_path})"
            print(progress.line(job), flush=True)
    return stopped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dlproj.reproduce", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--study", default="course",
                        help=f"conf/study/NAME.yaml: {', '.join(studies.available())} "
                             "(default course)")
    parser.add_argument("--quick", action="store_true", help="the same as --study quick")
    parser.add_argument("--outputs", type=Path,
                        help="outputs folder (default: outputs/ for course, else outputs/NAME/)")
    parser.add_argument("--sections", default="1,2,3,4", help="e.g. 1,3 (default: all)")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the steps' commands and what would run, run nothing")
    parser.add_argument("--force", action="store_true",
                        help="rerun every job, also those already completed")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="jobs side by side (default: the core count)")
    parser.add_argument("--launcher", choices=LAUNCHERS, default="joblib",
                        help="Hydra launcher for the jobs (default joblib: this machine)")
    parser.add_argument("--docs-table", action="store_true",
                        help="print the study table of docs/report.md (from conf/study/)")
    args = parser.parse_args(argv)
    if args.docs_table:
        print(studies.docs_table(studies.load("course"), studies.load("quick")), end="")
        return 0
    name = "quick" if args.quick else args.study
    if args.jobs < 1:
        parser.error(f"--jobs {args.jobs}: allowed: an integer >= 1")
    raw_title = studies.load(name).title  # an unknown study fails here, before any probing
    base = paths.outputs_root()
    outputs = (args.outputs or (base if name == "course" else base / name)).resolve()
    sections = {int(s) for s in args.sections.split(",") if s.strip()}
    s4 = section4_data(name == "course") if 4 in sections else Section4Data(True, True, None)
    study = studies.load(name, when=s4.conditions, substitutions=s4.substitutions)
    study.steps = [s for s in study.steps if s.section in sections]
    started = time.time()
    stamp = datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    sweep_dir = outputs / "multirun" / f"{stamp}_reproduce_{name}"
    jobs = plan(study, outputs, force=args.force, save=not args.dry_run)
    todo = assign(jobs, outputs, sweep_dir)
    counts = {s: sum(j.state == s for j in jobs)
              for s in ("run", "resume", "done", "invalid", "twin", "running")}
    print(f"dlproj reproduce: {raw_title}: {len(study.steps)} steps, {len(jobs)} jobs -> "
          f"{outputs}\n  {counts['run']} to run, {counts['resume']} to resume, "
          f"{counts['done']} already done (skipped), {counts['invalid']} invalid, "
          f"{counts['twin']} run by another step, {counts['running']} running elsewhere; "
          f"{args.jobs} side by side ({args.launcher})", flush=True)
    if s4.notice and 4 in sections:
        print(s4.notice, flush=True)
    for job in jobs:
        if job.state in ("invalid", "running"):
            print(f"  {job.state}: step {job.index} {job.step.title}: {job.label}: {job.reason}")
    if args.dry_run:
        for i, step in enumerate(study.steps, 1):
            mine = [j for j in jobs if j.step is step]
            left = sum(j.state in ("run", "resume") for j in mine)
            print(f"[{i}] {step.command()}   # {len(mine)} jobs, {left} to run")
        return 0

    log_dir = outputs / "reproduce" / f"{stamp}_{name}"
    log_dir.mkdir(parents=True, exist_ok=True)
    stopped = bool(todo) and launch(todo, steps=len(study.steps), outputs=outputs,
                                    sweep_dir=sweep_dir, log_dir=log_dir, workers=args.jobs,
                                    launcher=args.launcher)
    wall = time.time() - started
    ended = {s: sum(j.status == s for j in todo) for s in ("completed", "diverged", "failed",
                                                           "interrupted")}
    summary = (f"reproduce ({name}): {len(jobs)} jobs: {ended['completed']} completed, "
               f"{ended['failed']} failed, {ended['diverged']} diverged, "
               f"{ended['interrupted']} interrupted, {counts['done']} skipped (done before), "
               f"{counts['invalid']} invalid, {counts['running']} running elsewhere; "
               f"{wall / 60:.1f} min wall")
    from dlproj.files.atomic import write_json

    write_json(log_dir / "summary.json", {
        "study": name, "title": raw_title, "wall_seconds": round(wall, 1), "workers": args.jobs,
        "launcher": args.launcher, "section4_notice": s4.notice, "counts": {**counts, **ended},
        "jobs": [{"step": j.step.id, "overrides": j.overrides, "seed": j.seed,
                       "setting": j.setting, "state": j.state, "status": j.status,
                       "reason": j.reason, "num": j.num,
                       "run_dir": str(j.result.parent if j.result else j.prior or "")}
                      for j in jobs]})
    print(summary, flush=True)
    from dlproj.report.__main__ import main as report_main

    index = outputs / "report" / "index.md"
    newest = max((p.stat().st_mtime for p in outputs.glob("*/*/results.json")), default=0.0)
    newest = max([newest, *(p.stat().st_mtime for p in outputs.glob("multirun/*/*/results.json"))])
    if todo or not index.is_file() or index.stat().st_mtime < newest:
        report_main(["--outputs", str(outputs), "--quiet"])
    else:
        print(f"report up to date (no run changed since it was built): {index}", flush=True)
    print(f"{summary}; report: {outputs / 'report' / 'index.md'} "
          f"({(time.time() - started) / 60:.1f} min with the report)", flush=True)
    if s4.notice and 4 in sections:
        print(s4.notice, flush=True)
    if stopped:
        return 130  # Ctrl-C: the report of what finished is written; rerun to go on
    bad = ended["failed"] + ended["interrupted"] + counts["invalid"]
    return 1 if bad else 0
