"""`python -m dlproj.reproduce [--study course|quick]`: a study's experiments, then the report.

The study is `conf/study/NAME.yaml` (dlproj/config/study.py); each step expands into jobs (one
per combination and seed). A job whose (setting, seed) completed under the outputs folder is
skipped (`--force` reruns it), an interrupted or killed one continues in place, one running in
another process is left to it, and the rest run side by side through ONE Hydra multirun
(`--jobs`, `--launcher`): a line per finished job, then a summary and the report, with the
study's claims judged. docs/report.md, *How it runs*, tells the whole story.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TextIO

from dlproj import paths
from dlproj.config import study as studies
from dlproj.config.cache import ComposeCache
from dlproj.errors import ConfigError, check_knobs, one_paragraph
from dlproj.reproduce import conditions
from dlproj.reproduce.launch import LAUNCHERS, from_the_start, launch, side_by_side
from dlproj.reproduce.plan import Plan, plan

MAX_SEEDS = 1000  # --seeds: more is no study of this machine's, and a plan of millions of jobs


def main(argv: list[str] | None = None) -> int:
    """The study, or one paragraph on stderr and a non-zero exit: 2 for what the command line or
    a study file gets wrong, 1 for what the machine refuses (an outputs folder it cannot write).
    The outputs lock is held until the study and its report are done."""
    with contextlib.ExitStack() as held:
        held.enter_context(ctrl_c_stops())
        try:
            return one_paragraph("dlproj reproduce", lambda: _study(argv, held),
                                 "Choose an outputs folder this user can write to, on a disk "
                                 "with room (--outputs DIR).")
        except KeyboardInterrupt:  # while planning or reporting (the sweep's own: launch())
            print("dlproj reproduce: stopped (Ctrl-C) outside its jobs; every run that finished "
                  "is kept: the same command again goes on from there.", file=sys.stderr)
            return 130


@contextlib.contextmanager
def ctrl_c_stops() -> Iterator[None]:
    """Within the block Ctrl-C (SIGINT) raises KeyboardInterrupt, which launch() turns into a
    stop of the sweep, also in a process started with SIGINT ignored (`cmd &` in a script, or
    any parent that ignores it): the sweep's jobs stop on it whatever they inherited
    (dlproj.runtime.interrupt.catch_signals), so the study must too, or a Ctrl-C reaching the
    whole process group would stop the running jobs while the study went on to the next phase.
    Off the main thread, where no handler can be installed, it changes nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:  # None: a handler not set from Python; the default is the closest
        signal.signal(signal.SIGINT, signal.SIG_DFL if previous is None else previous)


def _sections(text: str | None, study: studies.Study) -> set[int]:
    """`--sections 1,3`: sections the study has steps for (None: all of them)."""
    have = sorted({s.section for s in study.steps})
    if text is None:
        return set(have)
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts or not all(p.isdigit() and int(p) in have for p in parts):
        raise ConfigError(f"Invalid value for '--sections': {text!r}. Allowed: a comma-separated "
                          f"list of the sections study '{study.name}' has steps for: "
                          f"{', '.join(map(str, have))} (e.g. --sections 1,3).")
    return {int(p) for p in parts}


def _study(argv: list[str] | None, held: contextlib.ExitStack) -> int:
    parser = argparse.ArgumentParser(prog="python -m dlproj.reproduce", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    # The last of --study and --quick wins: `make reproduce ARGS=--quick` (Makefile: --study
    # course first) is the quick study.
    parser.add_argument("--study", default="course",
                        help=f"conf/study/NAME.yaml: {', '.join(studies.available())} "
                             "(default course)")
    parser.add_argument("--quick", action="store_const", dest="study", const="quick",
                        help="the same as --study quick")
    parser.add_argument("--outputs", type=Path,
                        help="outputs folder (default: outputs/ for course, else outputs/NAME/)")
    parser.add_argument("--sections", help="e.g. 1,3 (default: every section of the study)")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the steps' commands and what would run, run nothing")
    parser.add_argument("--force", action="store_true",
                        help="rerun every job, also those already completed")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="jobs side by side (default: the core count)")
    parser.add_argument("--launcher", choices=LAUNCHERS, default="joblib",
                        help="Hydra launcher for the jobs (default joblib: this machine)")
    parser.add_argument("--seeds", type=int, metavar="N",
                        help="at least N seeds (seed=0..N-1) for every step a claim of the study "
                             "compares (its `steps:`): only the seeds not yet done run, and the "
                             "report's verdicts use them all")
    parser.add_argument("--docs-table", action="store_true",
                        help="print the study table of docs/report.md (from conf/study/)")
    args = parser.parse_args(argv)
    if args.docs_table:
        print(studies.docs_table(studies.load("course"), studies.load("quick")), end="")
        return 0
    name = args.study
    for flag, n, most in (("--jobs", args.jobs, None), ("--seeds", args.seeds, MAX_SEEDS)):
        if n is not None and not 1 <= n <= (most or n):
            parser.error(f"{flag} {n}: allowed: an integer >= 1"
                         + (f" and <= {most} (a run of every step a claim compares per seed)"
                            if most else ""))
    check_knobs()  # what every job would refuse (DLPROJ_PROGRESS=yes), refused once, here
    written = studies.load(name)  # an unknown study fails here, before any probing
    for part in (studies.course_numbers, studies.figures, studies.claims):
        part(name)  # and what its report reads, before any job runs
    base = paths.outputs_root()
    outputs = (args.outputs or (base if name == "course" else base / name)).resolve()
    sections = _sections(args.sections, written)
    here = conditions.assess(written.conditions,
                             [s for s in written.steps if s.section in sections])
    study = studies.load(name, when=here.when, substitutions=here.substitutions)
    study.steps = [s for s in study.steps if s.section in sections]
    if args.seeds is not None:  # the steps whose runs the claims compare
        study.with_seeds({s for claim in studies.claims(name) for s in claim.steps}, args.seeds)
    if not args.dry_run:  # a dry run writes nothing: no lock either
        held.enter_context(hold_outputs(outputs))  # until main() returns
    started = time.time()
    stamp = datetime.now().strftime("%Y-%m-%d_%H-%M-%S.%f")  # unique even within one second
    sweep_dir = outputs / "multirun" / f"{stamp}_reproduce_{name}"
    cache = ComposeCache(outputs)
    planned = plan(study, outputs, sweep_dir=sweep_dir, force=args.force, cache=cache)
    counts = planned.counts()
    print(f"dlproj reproduce: {written.title}: {len(study.steps)} steps, {len(planned.jobs)} "
          f"jobs -> {outputs}\n  {counts['run']} to run, {counts['resume']} to resume, "
          f"{counts['done']} already done (skipped), {counts['invalid']} invalid, "
          f"{counts['twin']} run by another step, {counts['running']} running elsewhere; "
          f"{side_by_side(args.jobs, planned.todo)} side by side "
          f"({args.launcher})", flush=True)
    if here.notice:
        print(here.notice, flush=True)
    for job in planned.jobs:
        if job.state in ("invalid", "running"):
            print(f"  {job.state}: step {job.index} {job.step.title}: {job.label}: {job.reason}")
    if args.dry_run:
        for i, step in enumerate(study.steps, 1):
            mine = [j for j in planned.jobs if j.step is step]
            left = sum(j.state in ("run", "resume") for j in mine)
            print(f"[{i}] {step.command()}   # {len(mine)} jobs, {left} to run")
        return 0  # a dry run writes nothing

    cache.save()
    log_dir = outputs / "reproduce" / f"{stamp}_{name}"  # made by the first file written there
    run = partial(launch, steps=len(study.steps), outputs=outputs, workers=args.jobs,
                  launcher=args.launcher)
    stopped = bool(planned.todo) and run(planned.todo, sweep_dir=sweep_dir, log_dir=log_dir)
    again_dir = sweep_dir.with_name(f"{sweep_dir.name}_from_the_start")
    again = [] if stopped else from_the_start(planned.todo, again_dir)
    if again:
        print(f"reproduce: {len(again)} run(s) could not be resumed (a damaged checkpoint or log, "
              f"or a config that changed since; the reason is in {log_dir / 'sweep.log'}); "
              f"running them again from the start", flush=True)
        stopped = run(again, sweep_dir=again_dir, log_dir=log_dir / "from_the_start")
    summary, final = _summarize(planned, args, name=name, title=written.title,
                                notice=here.notice, log_dir=log_dir, wall=time.time() - started)
    print(summary, flush=True)
    from dlproj.reproduce import report_inputs  # pandas and scipy: not for --help or planning

    reported = report_inputs.refresh(outputs, name, rebuild=bool(planned.todo))
    print(f"{summary}; report: " + (f"{outputs / 'report' / 'index.md'}" if reported else
                                    "not written (the reason is above)")
          + f" ({(time.time() - started) / 60:.1f} min with the report)", flush=True)
    if here.notice:
        print(here.notice, flush=True)
    if stopped:
        return 130  # Ctrl-C: the report of what finished is written; rerun to go on
    return 1 if (final["failed"] + final["interrupted"] + final["invalid"] + final["not started"]
                 or not reported) else 0


def hold_outputs(outputs: Path) -> TextIO:
    """One study at a time per outputs folder: an exclusive lock on `<outputs>/reproduce/lock`,
    naming its holder's pid, held until the returned file is closed (the kernel lets go when the
    process ends, however it ends)."""
    path = outputs / "reproduce" / "lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise ConfigError(f"{outputs} is in use by another `python -m dlproj.reproduce` "
                          f"({path.read_text().strip() or 'unknown'}). Allowed: wait for it to "
                          f"finish (or stop it), or give this study other outputs with "
                          f"--outputs DIR.") from None
    try:
        handle.truncate(0)  # it appends: the holder's line is the file
        handle.write(f"pid {os.getpid()}, started {datetime.now():%Y-%m-%d %H:%M:%S}\n")
        handle.flush()
    except OSError as exc:  # a full disk: say which file, leave nothing open
        exc.filename = exc.filename or handle.name
        with contextlib.suppress(OSError):
            handle.close()
        raise
    return handle


def _summarize(planned: Plan, args: argparse.Namespace, *, name: str, title: str,
               notice: str | None, log_dir: Path, wall: float) -> tuple[str, dict[str, int]]:
    """The summary line, and `<log dir>/summary.json`: every job, its state and how it ended;
    with the counts of both (the jobs' states, then how the launched ones ended)."""
    from dlproj.files.atomic import write_json

    counts = {**planned.counts(), **{s: sum(j.status == s for j in planned.todo)
                                     for s in ("completed", "diverged", "failed", "interrupted",
                                               "not started")}}
    summary = (f"reproduce ({name}): {len(planned.jobs)} jobs: {counts['completed']} completed, "
               f"{counts['failed']} failed, {counts['diverged']} diverged, "
               f"{counts['interrupted']} interrupted, "
               + (f"{counts['not started']} not started, " if counts["not started"] else "")
               + f"{counts['done']} skipped (done before), "
               f"{counts['invalid']} invalid, {counts['running']} running elsewhere; "
               f"{wall / 60:.1f} min wall")
    write_json(log_dir / "summary.json", {
        "study": name, "title": title, "wall_seconds": round(wall, 1), "workers": args.jobs,
        "launcher": args.launcher,
        "section4_notice": notice,  # the key it has always had: the study's conditions' notice
        "counts": counts,
        "jobs": [{"step": j.step.id, "overrides": j.overrides, "seed": j.seed,
                  "setting": j.setting, "state": j.state, "status": j.status,
                  "reason": j.reason, "num": j.num,
                  "run_dir": str(j.result.parent if j.result else j.prior or "")}
                 for j in planned.jobs]})
    return summary, counts

