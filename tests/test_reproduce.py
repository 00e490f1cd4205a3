"""`python -m dlproj.reproduce`: the plan, the offline switch for Section 4, failures recorded."""

from __future__ import annotations

import json
import os

from dlproj import reproduce
from dlproj.report import build_report
from dlproj.reproduce import Section4Data, Step, plan


def test_quick_overrides_replace_full_ones_and_jobs_are_counted():
    step = Step("t", 4, "compare", ["section=4", "model=plain,resnet", "model.depth=2,16",
                                    "dataset.classes=[5,6,7]"], seeds=3,
                quick=["model.depth=1", "train.epochs=1"])
    assert step.overrides(False) == ["section=4", "model=plain,resnet", "model.depth=2,16",
                                     "dataset.classes=[5,6,7]", "seed=0,1,2"]
    assert step.jobs(False) == 2 * 2 * 3
    assert step.overrides(True) == ["section=4", "model=plain,resnet", "model.depth=1",
                                    "dataset.classes=[5,6,7]", "train.epochs=1", "seed=0,1"]
    assert step.jobs(True) == 2 * 1 * 2


def test_three_seeds_where_the_study_compares_settings(tmp_path):
    steps = {s.title: s for s in plan(False, Section4Data(False, False, "x"), tmp_path, "t")}
    assert steps["Section 1: sin(x) by model size"].jobs(False) == 9
    assert steps["Section 2: optimizer x schedule"].jobs(False) == 27
    assert steps["Section 3: max vs average pooling"].jobs(False) == 6
    assert steps["Section 1: MLP on MNIST"].jobs(False) == 1


def test_section4_falls_back_to_mnist_offline_with_one_notice(tmp_path, monkeypatch):
    monkeypatch.setenv("DLPROJ_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    s4 = reproduce.section4_data(quick=True)
    assert not s4.pets and "offline dataset, MNIST" in s4.notice
    steps = plan(True, s4, tmp_path, "stamp")
    s4_args = [a for s in steps if s.section == 4 for a in s.args]
    assert "dataset=pets" not in s4_args and "dataset=mnist" in s4_args
    pretrain = next(s for s in steps if s.run_dir is not None)
    transfer = next(s for s in steps if any(a.startswith("model.weights=/") for a in s.args))
    assert f"model.weights={pretrain.run_dir / 'model.pt'}" in transfer.args

    (tmp_path / "data" / "oxford-iiit-pet" / "images").mkdir(parents=True)
    (tmp_path / "data" / "oxford-iiit-pet" / "annotations").mkdir()
    (tmp_path / "torch" / "hub" / "checkpoints").mkdir(parents=True)
    (tmp_path / "torch" / "hub" / "checkpoints" / "resnet18-f37072fd.pth").write_bytes(b"")
    s4 = reproduce.section4_data(quick=True)
    assert s4.pets and s4.imagenet and s4.notice is None
    s4_args = [a for s in plan(True, s4, tmp_path, "stamp") if s.section == 4 for a in s.args]
    assert "dataset=pets" in s4_args and "model.weights=imagenet" in s4_args


def test_a_step_that_cannot_start_is_recorded_and_reported(tmp_path, capsys):
    outputs = tmp_path / "out"
    step = Step("broken", 3, "no_such_experiment", ["experiment=no_such_experiment"])
    env = {**os.environ, "DLPROJ_OUTPUTS": str(outputs), "DLPROJ_PROGRESS": "0"}
    result = reproduce.run_step(1, 1, step, True, outputs, tmp_path, env)
    assert result["exit"] != 0
    assert "did not start" in capsys.readouterr().out
    (record,) = list(outputs.glob("runs/*/results.json"))
    data = json.loads(record.read_text())
    assert data["status"] == "failed" and "no_such_experiment" in data["error"]
    (row,) = build_report(outputs, outputs / "report", figures=False).rows
    assert (row.section, row.experiment, row.status) == (3, "no_such_experiment", "failed")
