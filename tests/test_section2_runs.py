"""Section 2 end to end on tiny data: what a training run, a gradient check and a sweep leave."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest

from dlproj.config.compose import compose_config
from dlproj.runtime.validate import validate

TINY = ["data.train_limit=300", "data.test_limit=100", "model.hidden=[16]",
        "train.batch_size=64"]
PNGS = ("curves.png", "lr_schedule.png", "grad_norms_step.png", "grad_norms_epoch.png")
NAMES = ("W1", "b1", "W2", "b2")


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("overrides,expect", [
    (["section=2"], {"experiment": "train", "model": "two_layer", "optimizer": "adam",
                     "schedule": "constant", "epochs": 12}),
    (["section=2", "optimizer=rmsprop", "schedule=exponential"],
     {"optimizer": "rmsprop", "schedule": "exponential", "gamma": 0.97}),
    (["section=2", "optimizer=sgd", "schedule=step"],
     {"optimizer": "sgd", "schedule": "step", "gamma": 0.5, "step_size": 5}),
    (["section=2", "optimizer=momentum", "optimizer.nesterov=true"], {"optimizer": "momentum"}),
    (["section=2", "optimizer=adamw", "schedule=cosine"], {"optimizer": "adamw"}),
    (["section=2", "experiment=gradcheck"], {"experiment": "gradcheck", "model": "two_layer"}),
])
def test_section2_configs_compose_and_validate(overrides, expect):
    cfg = compose_config(overrides)
    validate(cfg)
    got = {"experiment": cfg.experiment, "model": cfg.model.name, "optimizer": cfg.optimizer.name,
           "schedule": cfg.schedule.name, "epochs": cfg.train.epochs,
           "gamma": cfg.schedule.get("gamma"), "step_size": cfg.schedule.get("step_size")}
    assert cfg.section == 2
    assert {k: got[k] for k in expect} == expect


def test_train_run_logs_lr_and_gradient_norms(dlproj_run):
    run = dlproj_run(["section=2", *TINY, "train.epochs=2", "optimizer=sgd", "optimizer.lr=0.1",
                      "schedule=step", "schedule.step_size=1"])
    assert run.proc.returncode == 0, run.output
    res = run.results()
    assert res["status"] == "completed" and 0 <= res["metrics"]["test_acc"] <= 1
    d = run.run_dir
    metrics = _rows(d / "metrics.csv")
    assert [float(r["lr"]) for r in metrics] == pytest.approx([0.1, 0.05])
    steps = _rows(d / "grad_norms.csv")
    per_epoch = math.ceil(300 / 64)
    assert [int(r["step"]) for r in steps] == list(range(1, 2 * per_epoch + 1))
    assert [int(r["epoch"]) for r in steps] == [1] * per_epoch + [2] * per_epoch
    for epoch, row in enumerate(metrics, start=1):
        for name in NAMES:
            values = [float(s[f"grad_norm_{name}"]) for s in steps if int(s["epoch"]) == epoch]
            assert all(v > 0 for v in values)
            assert float(row[f"grad_norm_{name}"]) == pytest.approx(np.mean(values), rel=1e-9)
    for png in PNGS:
        assert (d / png).stat().st_size > 1000, png

    # The saved model evaluates to the run's final test accuracy (train.* is refused with
    # checkpoint=: the run trains nothing).
    evaluate = [a for a in TINY if not a.startswith("train.")]
    again = dlproj_run(["section=2", *evaluate, f"checkpoint={d / 'model.npz'}"])
    assert again.proc.returncode == 0, again.output
    assert again.results()["metrics"]["test_acc"] == res["metrics"]["test_acc"]


def test_gradcheck_run_writes_every_parameter_below_1e8(dlproj_run):
    run = dlproj_run(["section=2", "experiment=gradcheck", "model.hidden=[8]",
                      "params.batch_size=8", "params.max_entries=300", "data.test_limit=10"])
    assert run.proc.returncode == 0, run.output
    res = run.results()
    assert res["status"] == "completed"
    rows = _rows(run.run_dir / "metrics.csv")
    assert [r["param"] for r in rows] == list(NAMES)
    assert [int(r["checked"]) for r in rows] == [300, 8, 80, 10]
    for r in rows:
        assert float(r["rel_error"]) < 1e-8 and r["passed"] == "True"
    assert res["metrics"]["max_rel_error"] < 1e-8
    assert "rel error" in (run.run_dir / "dlproj.log").read_text()


GRADCHECK_TINY = ["section=2", "experiment=gradcheck", "model.hidden=[8]", "params.batch_size=8",
                  "params.max_entries=40", "data.test_limit=10"]


def test_gradcheck_in_float32_shows_why_the_check_runs_in_float64(dlproj_run):
    """`+params.dtype=float32`: the same check, its centred differences lost in rounding; with
    `params.tolerance=null` it records the errors (a run the dtype claim compares) instead of
    failing, as it does against the float64 bar."""
    recorded = dlproj_run([*GRADCHECK_TINY, "+params.dtype=float32", "params.tolerance=null"])
    assert recorded.proc.returncode == 0, recorded.output
    res = recorded.results()
    assert res["status"] == "completed" and res["metrics"]["max_rel_error"] > 1e-3
    rows = _rows(recorded.run_dir / "metrics.csv")
    assert [r["passed"] for r in rows] == [""] * 4  # no bar, nothing passed or failed
    assert "gradient check in float32" in (recorded.run_dir / "dlproj.log").read_text()

    failed = dlproj_run([*GRADCHECK_TINY, "+params.dtype=float32"])
    assert failed.proc.returncode != 0 and failed.results()["status"] == "failed"
    assert "In float32 the centred differences drown in rounding" in failed.results()["error"]
    # its final metrics are the check's, as a completed one's: not the last parameter's row
    assert failed.results()["metrics"] == pytest.approx(res["metrics"])


@pytest.mark.parametrize("override", ["+params.dtype=float16", "params.tolerance=0"])
def test_gradcheck_dtype_and_tolerance_are_checked(override):
    from dlproj.errors import ConfigError

    with pytest.raises(ConfigError, match=override.lstrip("+").split("=")[0]):
        validate(compose_config([*GRADCHECK_TINY, override]))


def test_two_hidden_layers_is_a_config_error(dlproj_run):
    run = dlproj_run(["section=2", *TINY, "train.epochs=1", "model.hidden=[16,16]"])
    assert run.proc.returncode == 2, run.output
    assert "'model.hidden'" in run.output and "Traceback" not in run.output
    assert run.run_dirs == [] and not (run.outputs / "runs").exists()  # not a run, no folder


@pytest.mark.slow
def test_sweep_records_a_diverged_job_and_goes_on(dlproj_run):
    run = dlproj_run(["-m", "section=2", *TINY, "train.epochs=2", "optimizer=sgd",
                      "optimizer.lr=1e9,0.1"])
    statuses = sorted(run.results(d)["status"] for d in run.run_dirs)
    assert statuses == ["completed", "diverged"], run.output
