"""Issue 20's done-when run: one study at a time per outputs, a killed reproduce takes its sweep
with it, and every (setting, seed) of the study ends run exactly once.

    python scripts/faults_done_when.py [--outputs D] [--sections 1,2] [--jobs N]

1. From an empty outputs folder D, `python -m dlproj.reproduce --study quick --outputs D` (the
   first) runs the study; a second one started beside it must refuse at once, naming the
   first's pid. Then every (setting, seed) of the study has exactly one run, completed.
2. A third, `--force` (so that it has jobs to run again), is killed with SIGKILL once a third of
   them have ended: no process of its sweep may be left a minute later.
3. reproduce again, to completion: it has nothing left to run.
4. Counted with dlproj's own readers (dlproj/report/runs.py; `reproduce --dry-run`'s plan):
   every (setting, seed) has exactly one non-superseded run, completed; apart from the third's
   deliberate reruns, exactly one run at all. Prints the counts; exit 1 if any check fails.

Takes minutes (the quick study three times, the third cut short); run it with `nice -n 10` on a
shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

failures: list[str] = []


def check(ok: bool, what: str) -> None:
    print(f"  {'ok  ' if ok else 'FAIL'} {what}", flush=True)
    if not ok:
        failures.append(what)


def reproduce(outputs: Path, log: Path, *extra: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "dlproj.reproduce", "--study", "quick", "--outputs",
           str(outputs), *extra]
    print(f"$ {' '.join(cmd[1:])}  > {log}", flush=True)
    return subprocess.Popen(cmd, cwd=ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT,
                            env={**os.environ, "DLPROJ_PROGRESS": "0"})


def wait_for(condition, seconds: float, what: str) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            check(False, f"timed out after {seconds:.0f}s waiting for {what}")
            return False
        time.sleep(0.5)
    return True


def summary(log: Path) -> str:
    """reproduce's summary line."""
    return next((line for line in reversed(log.read_text().splitlines())
                 if line.startswith("reproduce (")), "(no summary line)")


def sweep_processes(outputs: Path) -> list[int]:
    """Live processes whose DLPROJ_OUTPUTS is `outputs` (reproduce hands it to its sweep)."""
    mark = f"DLPROJ_OUTPUTS={outputs}".encode() + b"\0"
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if mark in environ.read_bytes():
                found.append(int(environ.parent.name))
        except (OSError, ValueError):
            pass
    return found


def runs(outputs: Path):
    from dlproj.report.runs import dedupe, read_runs

    found, problems = read_runs(outputs, curves=False)
    for problem in problems:
        print(f"  (report reader skipped {problem})")
    return found, *dedupe(found)


def expected(sections: str | None) -> int:
    """How many jobs of the study compose (its (setting, seed) pairs), as `reproduce --dry-run`
    plans them for an empty outputs folder."""
    with tempfile.TemporaryDirectory() as empty:
        extra = ["--sections", sections] if sections else []
        said = subprocess.run([sys.executable, "-m", "dlproj.reproduce", "--study", "quick",
                               "--outputs", empty, "--dry-run", *extra],
                              capture_output=True, text=True, check=True).stdout
    return int(re.search(r"(\d+) to run, 0 to resume", said)[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--outputs", type=Path, help="an empty or missing folder (default: a "
                                                      "new one under /tmp)")
    parser.add_argument("--sections", help="only these sections of the quick study, e.g. 1,2")
    parser.add_argument("--jobs", default="2", help="jobs side by side (default 2)")
    args = parser.parse_args()
    outputs = (args.outputs or Path(tempfile.mkdtemp(prefix="dlproj-done-when-"))).resolve()
    if outputs.exists() and any(outputs.iterdir()):
        parser.error(f"--outputs {outputs} is not empty")
    logs = Path(f"{outputs}-logs")
    logs.mkdir(parents=True, exist_ok=True)
    extra = ["--jobs", args.jobs, *(["--sections", args.sections] if args.sections else [])]
    started = time.monotonic()

    print(f"1. a clean run into {outputs}, a second one beside it", flush=True)
    first = reproduce(outputs, logs / "first.log", *extra)
    lock = outputs / "reproduce" / "lock"
    wait_for(lambda: lock.is_file() and f"pid {first.pid}," in lock.read_text(), 120,
             "the first to hold the outputs")
    second = reproduce(outputs, logs / "second.log", *extra)
    second.wait(timeout=120)
    said = (logs / "second.log").read_text().strip()
    print(f"  second: exit {second.returncode}: {said}")
    check(second.returncode == 2 and f"pid {first.pid}" in said,
          f"the second refused, naming the first's pid {first.pid}")
    check(first.poll() is None, "the first went on")
    first.wait()
    print(f"  first: exit {first.returncode} after {time.monotonic() - started:.0f}s: "
          f"{summary(logs / 'first.log')}")
    check(first.returncode == 0, "the first completed its study")
    planned = expected(args.sections)
    found, kept, _ = runs(outputs)
    per_key = Counter(zip(found["setting"], found["seed"], strict=True))
    # The study's (setting, seed) pairs: those the first ran, once it ran as many as the plan
    # has; step 3's reproduce, with nothing left to run, shows that the planner agrees.
    want = set(per_key)
    check(len(want) == planned and set(per_key.values()) == {1}
          and set(found["status"]) == {"completed"},
          f"after the first: each of the {planned} (setting, seed) run once, completed "
          f"({len(found)} runs)")

    print("2. a third (--force: it has every job to run again), killed with SIGKILL mid-way",
          flush=True)
    before = set((outputs / "multirun").iterdir())
    sweep: Path | None = None  # the third's
    third = reproduce(outputs, logs / "third.log", *extra, "--force")

    def third_sweep() -> Path | None:
        new = set((outputs / "multirun").iterdir()) - before
        return next(iter(new)) if new else None

    def a_third_ended_and_one_running() -> bool:
        sweep = third_sweep()
        if sweep is None:
            return False
        ended = {p.parent for p in sweep.glob("*/results.json")}
        running = {p.parent for p in sweep.glob("*/metrics.csv")} - ended  # past an epoch
        return 3 * len(ended) >= len(want) and bool(running)

    if wait_for(a_third_ended_and_one_running, 900,
                "a third of the third's jobs to end, and one to be training"):
        third.send_signal(signal.SIGKILL)
        third.wait()
        sweep = third_sweep()
        print(f"  killed the third (pid {third.pid}) with "
              f"{len(list(sweep.glob('*/results.json')))} of its jobs ended, "
              f"{len(list(sweep.glob('*/dlproj.log')))} started")
        check(wait_for(lambda: not sweep_processes(outputs), 90, "its sweep to end"),
              "no process of its sweep left (it died with reproduce: parent-death signal)")
        for pid in sweep_processes(outputs):  # what a failed check left: not for ever
            os.kill(pid, signal.SIGKILL)
        ended = Counter(json.loads(p.read_text())["status"] for p in sweep.glob("*/results.json"))
        print(f"  its jobs, once its sweep had stopped: {dict(ended)}")
        check(sum(ended.values()) == len(list(sweep.glob("*/dlproj.log"))),
              "every job it had started left its record (those running: interrupted)")

    print("3. reproduce again, to completion", flush=True)
    fourth = reproduce(outputs, logs / "fourth.log", *extra)
    fourth.wait()
    lines = (logs / "fourth.log").read_text().strip().splitlines()
    print(f"  {lines[1].strip()}\n  {summary(logs / 'fourth.log')}")
    check(fourth.returncode == 0, "it ends with exit 0")
    check(any(" 0 to run, 0 to resume," in line for line in lines), "it had nothing to run")

    print(f"4. the runs under {outputs}, per (setting, seed)", flush=True)
    found, kept, superseded = runs(outputs)
    third_runs = found["path"].map(lambda p: sweep is not None and Path(p).parent == sweep)
    total = Counter(zip(found["setting"], found["seed"], strict=True))
    outside = Counter(zip(found[~third_runs]["setting"], found[~third_runs]["seed"],
                          strict=True))
    done = Counter(zip(kept[kept["status"] == "completed"]["setting"],
                       kept[kept["status"] == "completed"]["seed"], strict=True))
    labels = dict(zip(zip(found["setting"], found["seed"], strict=True), found["label"],
                      strict=True))
    print(f"  {'setting':<10} {'seed':>4} {'runs':>4} {'3rd':>3} {'kept completed':>14}  label")
    for key in sorted(want | set(total), key=lambda k: (str(k[0]), k[1])):
        print(f"  {str(key[0]):<10} {key[1]:>4} {total[key]:>4} {total[key] - outside[key]:>3} "
              f"{done[key]:>14}  {str(labels.get(key, '(missing)'))[:60]}")
    statuses = Counter(found["status"])
    print(f"  {len(found)} runs ({dict(statuses)}), {len(kept)} kept, {len(superseded)} "
          f"superseded; {len(want)} (setting, seed) in the study")
    check(not (want - set(total)), f"no (setting, seed) missing ({len(want - set(total))})")
    check(all(done[k] == 1 for k in want), "each has exactly one non-superseded completed run")
    check(all(outside[k] == 1 for k in want) and not set(outside) - want,
          "apart from the third's forced reruns, each was run exactly once")
    check(len(kept) == len(want), "one kept run per (setting, seed), nothing else")
    print(f"{'PASS' if not failures else 'FAIL'} after {time.monotonic() - started:.0f}s"
          + (f": {'; '.join(failures)}" if failures else ""))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
