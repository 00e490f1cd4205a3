"""Section 1 end to end: `python -m dlproj` runs on tiny limits and the files each run leaves."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT

TINY = ["data.train_limit=2000", "data.test_limit=200", "data.val_size=200"]


def _rows(run_dir):
    with open(run_dir / "metrics.csv") as fh:
        return list(csv.DictReader(fh))


def test_mlp_run_leaves_metrics_checkpoint_figures_and_log(dlproj_run):
    run = dlproj_run(["section=1", *TINY, "train.epochs=2", "model.hidden=[32]"])
    assert run.proc.returncode == 0, run.output
    d = run.run_dir
    assert d.parent.name == "runs" and d.name.endswith("_s1_mlp")
    rows = _rows(d)
    assert [r["epoch"] for r in rows] == ["1", "2"]
    for col in ("lr", "train_loss", "val_acc", "test_acc", "test_loss", "epoch_seconds"):
        assert col in rows[0], col
    res = run.results()
    assert res["status"] == "completed" and res["wall_seconds"] > 0
    assert res["metrics"]["test_acc"] == float(rows[-1]["test_acc"])
    assert 0.5 < res["metrics"]["test_acc"] <= 1.0
    with np.load(d / "model.npz", allow_pickle=False) as npz:
        assert npz["fc1.W"].shape == (784, 32) and npz["fc2.W"].shape == (32, 10)
    assert (d / "curves.png").stat().st_size > 1000
    assert "epoch 2/2" in (d / "dlproj.log").read_text()
    assert (d / ".hydra" / "overrides.yaml").exists()
    assert not list(d.glob(".*.tmp-*"))

    again = dlproj_run(["section=1", *TINY, f"checkpoint={d / 'model.npz'}",
                        "model.hidden=[32]"])
    assert again.proc.returncode == 0, again.output
    assert again.results()["metrics"]["test_acc"] == res["metrics"]["test_acc"]


def test_same_seed_same_metrics_bit_for_bit(dlproj_run):
    args = ["experiment=mlp", *TINY, "train.epochs=2", "model.hidden=[16]", "seed=3"]
    a, b = dlproj_run(args), dlproj_run(args)
    c = dlproj_run([*args[:-1], "seed=4"])
    strip = [{k: v for k, v in r.items() if k != "epoch_seconds"} for r in _rows(a.run_dir)]
    assert strip == [{k: v for k, v in r.items() if k != "epoch_seconds"}
                     for r in _rows(b.run_dir)]
    assert strip != [{k: v for k, v in r.items() if k != "epoch_seconds"}
                     for r in _rows(c.run_dir)]


def test_xor_is_learnt(dlproj_run):
    run = dlproj_run(["experiment=xor"])
    assert run.proc.returncode == 0, run.output
    assert run.results()["metrics"]["train_acc"] == 1.0
    assert (run.run_dir / "decision_boundary.png").exists()


def test_sin_run_reports_mse_and_draws_fit(dlproj_run):
    run = dlproj_run(["experiment=sin", "model=mlp_small", "train.epochs=20",
                      "params.n_train=256", "params.n_test=100"])
    assert run.proc.returncode == 0, run.output
    res = run.results()
    assert res["config"]["model"]["name"] == "mlp_small"
    assert 0 < res["metrics"]["test_mse"] < 1.0
    assert (run.run_dir / "fit.png").exists()


def test_nan_loss_ends_diverged_and_keeps_metrics(dlproj_run):
    # (divergence_factor=null: NaN/inf only, which this rate reaches after an epoch or more; the
    # default stops it at its second step, 1e4 times its first loss, with no epoch to keep)
    run = dlproj_run(["experiment=sin", "model=mlp_small", "optimizer=sgd",
                      "optimizer.lr=1000", "train.epochs=10", "params.n_train=256",
                      "train.divergence_factor=null"])
    assert run.proc.returncode == 1
    res = run.results()
    assert res["status"] == "diverged" and "loss became" in res["error"]
    assert len(_rows(run.run_dir)) >= 1
    assert "Traceback" not in run.output


def test_sweep_survives_diverged_and_failed_jobs(dlproj_run):
    """A sweep runs on past diverged and invalid jobs, exits 1, names each job's outcome in its
    closing lines, leaves no directory for an invalid job, and its report has the runs it made."""
    run = dlproj_run(["-m", "experiment=sin", "model=mlp_small", "optimizer=sgd",
                      "params.n_train=256", "train.epochs=5", "optimizer.lr=0.1,1000",
                      "checkpoint=null,/no/such/model.npz"])
    assert run.proc.returncode == 1, run.output  # the sweep ran on, and says not all completed
    dirs = run.run_dirs
    assert len(dirs) == 2 and all(d.parent.parent.name == "multirun" for d in dirs)
    statuses = sorted(run.results(d)["status"] for d in dirs)
    # sin takes no `checkpoint`: both jobs given one are refused as invalid (no run directory is
    # left for the report to count), the sweep goes on, and its closing line names them.
    assert statuses == ["completed", "diverged"]
    sweep_dir = dirs[0].parent
    line = f"sweep: 1 completed, 2 invalid (jobs 1, 3), 1 diverged (job 2) -> {sweep_dir}"
    assert line in run.proc.stderr.splitlines(), run.proc.stderr
    assert "  invalid: experiment=sin model=mlp_small" in run.proc.stderr
    assert not (sweep_dir / "1").exists() and not (sweep_dir / "3").exists()  # not runs
    # The multirun-end callback reported the sweep, the diverged run as a row of its own.
    summary = (sweep_dir / "report" / "results.md").read_text()
    assert re.search(r"\|\s*DIVERGED\s*\|", summary) and re.search(r"\|\s*completed\s*\|", summary)
    assert (sweep_dir / "report" / "results.csv").is_file()

    failed = dlproj_run(["-m", "experiment=mlp", *TINY, "train.epochs=1", "model.hidden=[8]",
                         "checkpoint=null,/no/such/model.npz"])
    assert failed.proc.returncode == 1, failed.output
    assert [failed.results(d)["status"] for d in failed.run_dirs] == ["completed"]
    assert "/no/such/model.npz" in failed.proc.stderr and "1 invalid (job 1)" in failed.proc.stderr


@pytest.mark.parametrize("args, absent, backend", [
    (["experiment=xor", "train.epochs=5"], ["torch"], "agg"),  # draws its figures, off-screen
    # a run that draws nothing loads no plotting or table library (0.15 s of every small run)
    (["section=3", "debug=overfit"], ["torch", "matplotlib", "pandas"], None),
])
def test_sections_1_to_3_load_only_what_they_use(args, absent, backend):
    code = (
        "import json, sys\n"
        "from dlproj.runtime.app import main\n"
        f"sys.argv = ['dlproj', *{args!r}]\n"
        "main()\n"
        "from dlproj.experiments import registry\n"
        "registry.load_all()\n"
        "mpl = sys.modules.get('matplotlib')\n"
        f"print(json.dumps([[m for m in {absent!r} if m in sys.modules], "
        "mpl and mpl.get_backend().lower()]))\n"
    )
    import os
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                              text=True, env={**os.environ, "DLPROJ_OUTPUTS": tmp},
                              timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == [[], backend], proc.stdout
