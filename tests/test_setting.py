"""Setting identity: one hash per resolved config minus seed, paths, threads and the like; a
label of every key that differs from the experiment's defaults; recorded by every run."""

from __future__ import annotations

import pytest

from dlproj.config.compose import compose
from dlproj.config.setting import is_excluded, setting_of
from dlproj.report.runs import read_runs


def _setting(*overrides: str):
    return setting_of(compose(list(overrides)))


@pytest.mark.parametrize("extra", [
    "seed=3", "data.root=/elsewhere", "data.download=false", "device=cpu",
    "threads.blas=2", "threads.workers=1", "dataset.num_workers=4",
    "train.checkpoint_min_seconds=0", "train.checkpoint_every=3", "train.log_every=5",
])
def test_keys_that_do_not_change_a_result_leave_the_setting_alone(extra):
    assert _setting("section=3", extra) == _setting("section=3")


@pytest.mark.parametrize("extra, label", [
    ("train.epochs=2", "train.epochs=2"),
    ("data.train_limit=500", "data.train_limit=500"),
    ("data.test_limit=100", "data.test_limit=100"),
    ("train.batch_size=32", "train.batch_size=32"),
    ("pooling=avg", "pooling=avg"),
    ("model=cnn_wide", "model=cnn_wide"),
    ("model.channels=[4,8]", "model.channels=[4,8]"),
    ("optimizer=sgd", "optimizer=sgd"),
    ("+params.note=x", "params.note=x"),
])
def test_every_key_that_differs_from_the_defaults_changes_the_setting_and_is_labelled(extra,
                                                                                     label):
    base, other = _setting("section=3"), _setting("section=3", extra)
    assert base.label == "defaults"
    assert other.id != base.id and other.label == label


def test_another_runs_checkpoint_counts_by_file_name():
    a = _setting("section=4", "experiment=transfer", "model.weights=/x/runs/1/model.pt")
    b = _setting("section=4", "experiment=transfer", "model.weights=/y/multirun/s/0/model.pt")
    assert a == b and "model.weights=.../model.pt" in a.label


@pytest.mark.parametrize("key", ["seed", "hydra.run.dir", "params.torch_threads",
                                 "train.checkpoint_every", "logger.name", "data.root"])
def test_excluded_keys(key):
    assert is_excluded(key)


@pytest.mark.parametrize("key", ["train.epochs", "data.train_limit", "optimizer.lr",
                                 "model.name", "params.n_train"])
def test_result_keys_are_not_excluded(key):
    assert not is_excluded(key)


def test_each_run_records_its_setting(dlproj_run):
    run = dlproj_run(["experiment=xor", "train.epochs=5"])
    assert run.proc.returncode == 0, run.output
    record = run.results()
    expected = setting_of(record["config"])
    assert (record["setting"], record["setting_label"]) == (expected.id, "train.epochs=5")


@pytest.mark.parametrize("args", [
    ["experiment=xor", "optimizer.lr=0"],
    ["experiment=xor", "train.epochs=0"],
    ["-m", "experiment=xor", "train.epochs=3", "optimizer.lr=0,0.05"],
])
def test_a_config_error_leaves_no_run_for_the_report(dlproj_run, args):
    run = dlproj_run(args)
    runs, problems = read_runs(run.outputs)
    assert not problems
    assert list(runs["status"]) == (["completed"] if "-m" in args else []), run.output
    if "-m" not in args:
        assert run.proc.returncode == 2 and "dlproj: Invalid value" in run.proc.stderr
