"""`python -m dlproj.reproduce [--quick]`: every experiment of the course study, then the report.

Full budgets (`make reproduce`): each experiment at its configured epochs on all the data, with 3
seeds wherever the study compares settings. `--quick` (`make reproduce-quick`): the same list on
small data limits and 1-2 epochs, 2 seeds, in a few minutes. Each step is a `python -m dlproj`
process (a sweep with `-m` where it has several jobs); a step that fails is recorded and the next
one runs. Where Oxford-IIIT Pet (or the ImageNet weights) can be neither read nor downloaded,
Section 4 runs on its offline dataset, MNIST, and says so in one line.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from dlproj import paths


@dataclass
class Step:
    title: str
    section: int
    experiment: str
    args: list[str]
    seeds: int = 1
    quick: list[str] = field(default_factory=list)
    run_dir: Path | None = None  # a single run whose directory a later step needs

    def overrides(self, quick: bool) -> list[str]:
        seeds = min(self.seeds, 2) if quick else self.seeds
        seed_arg = [f"seed={','.join(map(str, range(seeds)))}"] if seeds > 1 else []
        merged: dict[str, str] = {}  # a quick override replaces the full one of the same key
        for arg in [*self.args, *(self.quick if quick else []), *seed_arg]:
            merged[arg.partition("=")[0]] = arg
        return list(merged.values())

    def jobs(self, quick: bool) -> int:
        n = 1
        for arg in self.overrides(quick):
            key, _, value = arg.partition("=")
            if not key.startswith("hydra.") and not value.startswith(("[", "'[")):
                n *= len(value.split(","))
        return n


# Small data and 1-2 epochs: every code path of the full list, in minutes.
QUICK_MNIST = ["data.train_limit=1000", "data.test_limit=300"]
QUICK_SMALL = ["data.train_limit=300", "data.test_limit=200", "train.epochs=2"]


@dataclass
class Section4Data:
    """What Section 4 can use here: the study's Pets (+ ImageNet weights), or offline MNIST."""

    pets: bool
    imagenet: bool
    notice: str | None


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


def section4_data(quick: bool) -> Section4Data:
    """Pets when on disk (or, for the full run, downloadable); ImageNet weights likewise."""
    pets_dir = paths.data_root() / "oxford-iiit-pet"
    pets = (pets_dir / "images").is_dir() and (pets_dir / "annotations").is_dir()
    weights = _torch_hub_dir() / "checkpoints" / "resnet18-f37072fd.pth"
    imagenet = weights.is_file()
    if not quick:
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


def plan(quick: bool, s4: Section4Data, outputs: Path, stamp: str) -> list[Step]:
    """The study's experiments in order (see docs/report.md for what each reproduces)."""
    steps = [
        Step("Section 1: MLP on MNIST", 1, "mlp", ["experiment=mlp"],
             quick=[*QUICK_MNIST, "train.epochs=1"]),
        Step("Section 1: XOR", 1, "xor", ["experiment=xor"]),
        Step("Section 1: sin(x) by model size", 1, "sin",
             ["experiment=sin", "model=mlp_small,mlp_medium,mlp_big"], seeds=3,
             quick=["train.epochs=40", "params.n_train=512"]),
        Step("Section 2: gradient check", 2, "gradcheck", ["section=2", "experiment=gradcheck"],
             quick=["params.max_entries=300"]),
        Step("Section 2: optimizer x schedule", 2, "train",
             ["section=2", "experiment=train", "optimizer=sgd,rmsprop,adam",
              "schedule=constant,step,exponential"], seeds=3,
             quick=[*QUICK_MNIST, "train.epochs=2"]),
        Step("Section 3: max vs average pooling", 3, "cnn",
             ["section=3", "experiment=cnn", "pooling=max,avg"], seeds=3, quick=QUICK_SMALL),
        Step("Section 3: the wide CNN (32/64 channels), max pooling", 3, "cnn",
             ["section=3", "experiment=cnn", "model=cnn_wide", "pooling=max"], quick=QUICK_SMALL),
        Step("Section 3: receptive fields", 3, "receptive_field",
             ["section=3", "experiment=receptive_field"]),
    ]
    pets = ["dataset=pets"] if s4.pets else ["dataset=mnist"]
    steps += [
        Step("Section 4: plain vs residual", 4, "compare",
             ["section=4", "experiment=compare", *pets, "model=plain,resnet"], seeds=3,
             quick=QUICK_SMALL),
        Step("Section 4: augmentation on (off: the resnet runs above)", 4, "compare",
             ["section=4", "experiment=compare", *pets, "model=resnet",
              "augmentation=standard"], seeds=3, quick=QUICK_SMALL),
        Step("Section 4: depth sweep, plain vs residual", 4, "compare",
             ["section=4", "experiment=compare", "dataset=mnist", "model=plain,resnet",
              # 8 vs 62 layers: the deep plain net stops training, the residual one does not.
              "model.depth=3,30", "model.width=8", "data.train_limit=5000"],
             quick=[*QUICK_SMALL, "model.depth=1,4"]),
    ]
    if s4.pets and s4.imagenet:
        steps += [
            Step("Section 4: transfer from ImageNet (frozen, layer4 + fc)", 4, "transfer",
                 ["section=4", "experiment=transfer", "dataset=pets", "model.weights=imagenet",
                  "model.finetune=frozen,layer4"], seeds=3, quick=QUICK_SMALL),
            Step("Section 4: transfer baseline, from scratch", 4, "transfer",
                 ["section=4", "experiment=transfer", "dataset=pets", "model.weights=none",
                  "model.finetune=all"], seeds=3, quick=QUICK_SMALL),
        ]
    else:
        pretrain_dir = outputs / "runs" / f"{stamp}_s4_transfer_pretrain"
        few = ["dataset=mnist", "dataset.classes=[5,6,7,8,9]", "dataset.per_class=100"]
        steps += [
            Step("Section 4: pretrain ResNet18 on MNIST digits 0-4", 4, "transfer",
                 ["section=4", "experiment=transfer", "dataset=mnist",
                  "dataset.classes=[0,1,2,3,4]", "model.weights=none", "model.finetune=all",
                  "+params.role=pretrain", f"hydra.run.dir={pretrain_dir}"],
                 quick=QUICK_SMALL, run_dir=pretrain_dir),
            Step("Section 4: transfer to digits 5-9, 100 labels each (frozen, layer4, all)", 4,
                 "transfer", ["section=4", "experiment=transfer", *few,
                              f"model.weights={pretrain_dir / 'model.pt'}",
                              "model.finetune=frozen,layer4,all"], seeds=3,
                 quick=["dataset.per_class=20", "data.test_limit=200", "train.epochs=2"]),
            Step("Section 4: transfer baseline, digits 5-9 from scratch", 4, "transfer",
                 ["section=4", "experiment=transfer", *few, "model.weights=none",
                  "model.finetune=all"], seeds=3,
                 quick=["dataset.per_class=20", "data.test_limit=200", "train.epochs=2"]),
        ]
    return steps


def _results(outputs: Path) -> set[Path]:
    return set(outputs.glob("runs/*/results.json")) | set(outputs.glob("multirun/*/*/results.json"))


def _status_counts(files: set[Path]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for path in files:
        try:
            status = json.loads(path.read_text()).get("status", "?")
        except (OSError, ValueError):
            status = "unreadable"
        counts[status] = counts.get(status, 0) + 1
    return counts


def _record_no_start(outputs: Path, step: Step, error: str, log_path: Path) -> None:
    """A step that never reached a run directory still gets a failed record for the report."""
    stamp = datetime.now().strftime("%Y-%m-%d_%H-%M-%S.%f")
    run_dir = outputs / "runs" / f"{stamp}_s{step.section}_{step.experiment}"
    from dlproj.runtime.atomic import write_json

    write_json(run_dir / "results.json", {
        "section": step.section, "experiment": step.experiment, "seed": None,
        "overrides": step.args, "run_dir": str(run_dir), "status": "failed", "metrics": {},
        "error": f"did not start: {error} (log: {log_path})", "wall_seconds": 0.0,
        "config": {"section": step.section, "experiment": step.experiment,
                   "reproduce_step": step.title},
    })


def _last_error(log_path: Path) -> str:
    lines = [ln.strip() for ln in log_path.read_text(errors="replace").splitlines() if ln.strip()]
    for line in reversed(lines):
        if line.startswith(("dlproj:", "Error", "Could not", "In ", "omegaconf", "hydra")) \
                or "Error" in line:
            return line[:300]
    return lines[-1][:300] if lines else "no output"


def run_step(i: int, total: int, step: Step, quick: bool, outputs: Path, log_dir: Path,
             env: dict[str, str]) -> dict:
    overrides = step.overrides(quick)
    jobs = step.jobs(quick)
    cmd = [sys.executable, "-m", "dlproj", *(["-m"] if jobs > 1 else []), *overrides]
    log_path = log_dir / f"{i:02d}_s{step.section}_{step.experiment}.log"
    print(f"[{i}/{total}] {step.title}: {jobs} run{'s' * (jobs > 1)}", flush=True)
    print(f"        python -m dlproj {' '.join(cmd[3:])}", flush=True)
    before = _results(outputs)
    started = time.time()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, cwd=paths.PROJECT_ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT)
        done = 0
        while proc.poll() is None:
            time.sleep(2)
            now = len(_results(outputs) - before)
            if now != done and jobs > 1:
                done = now
                print(f"        {done}/{jobs} done ({time.time() - started:.0f}s)", flush=True)
    new = _results(outputs) - before
    counts = _status_counts(new)
    wall = time.time() - started
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no run recorded"
    if proc.returncode != 0 and not new:
        error = _last_error(log_path)
        _record_no_start(outputs, step, error, log_path)
        summary = f"did not start (exit {proc.returncode}): {error}"
    elif proc.returncode != 0:
        summary += f" (exit {proc.returncode})"
    print(f"        {summary} in {wall:.0f}s; log {log_path}", flush=True)
    return {"step": step.title, "command": " ".join(cmd[2:]), "jobs": jobs, "counts": counts,
            "exit": proc.returncode, "wall_seconds": round(wall, 1), "log": str(log_path)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dlproj.reproduce", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="small limits, 1-2 epochs, 2 seeds (outputs/quick/ by default)")
    parser.add_argument("--outputs", type=Path,
                        help="outputs folder (default: outputs/, or outputs/quick/ with --quick)")
    parser.add_argument("--sections", default="1,2,3,4", help="e.g. 1,3 (default: all)")
    parser.add_argument("--dry-run", action="store_true", help="print the commands only")
    args = parser.parse_args(argv)

    base = paths.outputs_root()
    outputs = (args.outputs or (base / "quick" if args.quick else base)).resolve()
    sections = {int(s) for s in args.sections.split(",") if s.strip()}
    stamp = datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    s4 = section4_data(args.quick) if 4 in sections else Section4Data(True, True, None)
    steps = [s for s in plan(args.quick, s4, outputs, stamp) if s.section in sections]
    total_jobs = sum(s.jobs(args.quick) for s in steps)
    mode = "quick" if args.quick else "full"
    print(f"dlproj reproduce ({mode}): {len(steps)} steps, {total_jobs} runs -> {outputs}",
          flush=True)
    if s4.notice and 4 in sections:
        print(s4.notice, flush=True)
    if args.dry_run:
        for i, step in enumerate(steps, 1):
            flag = "-m " if step.jobs(args.quick) > 1 else ""
            print(f"[{i}] python -m dlproj {flag}{' '.join(step.overrides(args.quick))}")
        return 0

    log_dir = outputs / "reproduce" / stamp
    log_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "DLPROJ_OUTPUTS": str(outputs), "DLPROJ_PROGRESS": "0"}
    started = time.time()
    results = [run_step(i, len(steps), step, args.quick, outputs, log_dir, env)
               for i, step in enumerate(steps, 1)]
    wall = time.time() - started
    from dlproj.runtime.atomic import write_json

    write_json(log_dir / "summary.json", {"mode": mode, "wall_seconds": round(wall, 1),
                                          "section4_notice": s4.notice, "steps": results})
    print(f"all steps done in {wall / 60:.1f} min; building the report", flush=True)
    from dlproj.report.__main__ import main as report_main

    code = report_main(["--outputs", str(outputs)])
    print(f"reproduce ({mode}) finished in {(time.time() - started) / 60:.1f} min; "
          f"report: {outputs / 'report' / 'index.md'}", flush=True)
    if s4.notice and 4 in sections:
        print(s4.notice, flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
