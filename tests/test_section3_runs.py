"""Section 3 end to end: `python -m dlproj section=3 ...` on a few hundred images."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from conftest import SECTION3_TINY

from dlproj.errors import ConfigError
from dlproj.runtime.validate import validate

TINY = ["data.train_limit=320", "data.test_limit=200", "train.epochs=1"]


def test_cnn_run_leaves_its_files_and_checkpoint_reevaluates(dlproj_run, section3_run):
    # Two step workers: the run the next test compares with one (shared, not rerun).
    run = section3_run(2)
    assert run.proc.returncode == 0, run.output
    res = run.results()
    assert res["status"] == "completed"
    assert res["config"]["model"]["name"] == "cnn_small" and res["experiment"] == "cnn"
    d = run.run_dir
    for name in ("curves.png", "confusion_matrix.png", "confusion_counts.csv",
                 "confusion_normalized.csv", "filters_conv1.png", "feature_maps.png",
                 "feature_maps.npz", "model.npz", "metrics.csv"):
        assert (d / name).is_file(), name
    with open(d / "confusion_counts.csv") as fh:
        rows = list(csv.reader(fh))[1:]
    counts = np.array([[int(v) for v in r[1:]] for r in rows])
    assert counts.shape == (10, 10) and counts.sum() == 200
    assert np.trace(counts) / 200 == pytest.approx(res["metrics"]["test_acc"])
    with np.load(d / "feature_maps.npz", allow_pickle=False) as npz:
        assert npz["pool2"].shape[1:] == (16, 7, 7)
        # The figure's maps are after ReLU; the pre-ReLU conv outputs are kept beside them.
        assert {"conv1", "relu1", "pool1", "conv2", "relu2", "pool2"} <= set(npz.files)
        np.testing.assert_array_equal(npz["relu2"], np.maximum(npz["conv2"], 0))

    evaluate = [a for a in SECTION3_TINY if not a.startswith("train.")]  # it trains nothing
    again = dlproj_run([*evaluate, f"checkpoint={d / 'model.npz'}"])
    assert again.proc.returncode == 0, again.output
    res2 = again.results()
    assert res2["metrics"]["test_acc"] == pytest.approx(res["metrics"]["test_acc"])
    assert not (again.run_dir / "model.npz").exists()  # evaluated, not trained
    assert (again.run_dir / "confusion_matrix.png").is_file()


def test_two_workers_give_the_one_worker_metrics(section3_run):
    """tests/test_threads.py's end-to-end check for Section 3's CNN (conftest.SECTION3_TINY)."""
    from test_threads import assert_same_metrics

    assert_same_metrics([section3_run(w) for w in (1, 2)])


@pytest.mark.slow
def test_pooling_sweep_runs_both_pools(dlproj_run):
    run = dlproj_run(["-m", "section=3", "pooling=max,avg", "model=cnn_wide",
                      "data.train_limit=128", "data.test_limit=64", "data.val_size=64",
                      "train.epochs=1", "figures=false"])  # the records are what is checked
    assert run.proc.returncode == 0, run.output
    pools = sorted(run.results(d)["config"]["pooling"]["name"] for d in run.run_dirs)
    assert pools == ["avg", "max"]
    assert all(run.results(d)["status"] == "completed" for d in run.run_dirs)


def test_receptive_field_experiment_matches_the_study(dlproj_run):
    run = dlproj_run(["section=3", "experiment=receptive_field"])
    assert run.proc.returncode == 0, run.output
    m = run.results()["metrics"]
    assert (m["layer"], m["rf"], m["stride"]) == ("pool2", 10, 4)
    assert (m["measured_rf"], m["measured_stride"]) == (10, 4) and m["all_match"] is True
    assert "10x10" in run.output and (run.run_dir / "receptive_field.png").is_file()


def test_a_layer_whose_field_does_not_fit_is_said_not_measured(dlproj_run):
    """Three blocks on 28 px: pool3's field (22 px, stride 8) leaves no two neighbouring units
    inside the image, so it is not measured, and its row says so; it said `NO`, as if the
    arithmetic were wrong, while the record judged the layers it measured."""
    run = dlproj_run(["section=3", "experiment=receptive_field", "model.channels=[8,16,32]",
                      "figures=false"])
    assert run.proc.returncode == 0, run.output
    (pool3,) = [line for line in run.output.splitlines() if line.startswith("pool3 ")]
    assert pool3.split()[:4] == ["pool3", "3", "22", "8"], pool3
    assert pool3.endswith("not measured (no two neighbouring fields fit in 28 px)"), pool3
    assert " NO" not in run.output
    m = run.results()["metrics"]
    assert (m["layer"], m["all_match"]) == ("relu3", True)


def test_section3_defaults(compose_cfg):
    cfg = compose_cfg(["section=3"])
    assert (cfg.experiment, cfg.model.name, cfg.pooling.name) == ("cnn", "cnn_small", "max")
    assert list(cfg.model.channels) == [8, 16] and cfg.train.epochs == 5
    wide = compose_cfg(["section=3", "model=cnn_wide", "pooling=avg"])
    assert list(wide.model.channels) == [32, 64] and wide.pooling.name == "avg"
    validate(cfg)
    validate(wide)


@pytest.mark.parametrize("override,key", [
    ("model=mlp", "'model'"),
    ("model.padding=3", "'model.padding'"),
    ("model.channels=[8,16,32,64,128]", "'model.channels'"),
    ("model.channels=[8,0]", "'model.channels'"),
    ("model.fc_hidden=-1", "'model.fc_hidden'"),
    ("model.conv_algorithm=winograd3", "'model.conv_algorithm'"),
    ("model.kernel_size=1 model.padding=0 model.conv_algorithm=winograd",
     "'model.conv_algorithm'"),
])
def test_bad_cnn_configs_name_the_key(compose_cfg, override, key):
    with pytest.raises(ConfigError) as err:
        validate(compose_cfg(["section=3", *override.split()]))
    assert key in str(err.value)


def test_bad_cnn_config_exits_2_without_traceback(dlproj_run):
    run = dlproj_run(["section=3", "model.padding=3", *TINY])
    assert run.proc.returncode == 2, run.output
    assert "'model.padding'" in run.proc.stderr and "Traceback" not in run.output


def test_missing_checkpoint_is_a_clear_error(dlproj_run, tmp_path):
    evaluate = [a for a in TINY if not a.startswith("train.")]  # refused with checkpoint=
    run = dlproj_run(["section=3", *evaluate, f"checkpoint={tmp_path / 'nope.npz'}"])
    assert run.proc.returncode == 2  # checked with the config, before MNIST is read
    assert "'checkpoint'" in run.output and "nope.npz" in run.output
    assert "Traceback" not in run.output
