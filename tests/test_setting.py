"""Setting identity: one hash per resolved config minus seed, paths, threads and the like; a
label of every key that differs from the experiment's defaults; recorded by every run."""

from __future__ import annotations

import functools

import pytest

from dlproj.config.compose import compose
from dlproj.config.setting import is_excluded, setting_of
from dlproj.report.runs import read_runs


@functools.cache  # a Setting is frozen; composing conf/ again for each case gives the same one
def _setting(*overrides: str):
    return setting_of(compose(list(overrides)))


@pytest.mark.parametrize("extra", [
    "seed=3", "data.root=/elsewhere", "data.download=false", "device=cpu",
    "threads.blas=2", "threads.workers=1",
    "train.checkpoint_min_seconds=0", "train.checkpoint_every=3", "train.log_every=5",
    "model.conv_algorithm=im2col", "model.conv_algorithm=winograd",
])
def test_keys_that_do_not_change_a_result_leave_the_setting_alone(extra):
    assert _setting("section=3", extra) == _setting("section=3")


def test_data_loader_processes_leave_the_setting_alone():
    pets = ("section=4", "dataset=pets")
    assert _setting(*pets, "dataset.num_workers=4") == _setting(*pets)


def test_instantiation_keys_are_not_part_of_the_setting():
    """`_target_` / `_partial_` say how an object is built; the choice's name says which."""
    config = compose(["section=2", "optimizer=sgd"])
    assert config["optimizer"]["_target_"] == "dlproj.optim.optimizers.SGD"
    changed = {**config, "optimizer": {**config["optimizer"], "_target_": "elsewhere.SGD",
                                       "_partial_": False}}
    assert setting_of(changed) == setting_of(config)
    assert all(is_excluded(f"model.{k}") for k in ("_target_", "_partial_"))


@pytest.mark.parametrize("overrides", [
    ["section=2", "optimizer=sgd", "schedule=constant"],
    ["section=2", "optimizer=momentum", "schedule=step"],
    ["section=2", "optimizer=rmsprop", "schedule=exponential"],
    ["section=1", "optimizer=adam", "schedule=cosine"],
    ["section=2", "optimizer=adamw"],
    ["section=4", "experiment=transfer", "model.weights=none", "model.finetune=all"],
])
def test_a_run_recorded_before_the_groups_had_their_own_schemas_is_the_same_setting(overrides):
    """Runs recorded before 2026-12-05 carry every key of the old single optimizer / schedule
    schema (at values their choice never read) and ResNet18's depth and width, and no
    `_target_`: their setting is the one the same command has now."""
    config = compose(overrides)
    old = {group: {k: v for k, v in node.items() if not k.startswith("_")}
           if isinstance(node, dict) else node for group, node in config.items()}
    old["optimizer"] = {"momentum": 0.0, "nesterov": False, "alpha": 0.99, "beta1": 0.9,
                        "beta2": 0.999, "eps": 1e-08, "weight_decay": 0.0, **old["optimizer"]}
    old["schedule"] = {"step_size": 5, "gamma": 0.5, "warmup_epochs": 0, "min_lr": 0.0,
                       **old["schedule"]}
    if old["model"]["name"] == "resnet18":
        old["model"] = {"depth": 8, "width": 16, **old["model"]}
    old["dataset"] = {"num_workers": 0, **old["dataset"]}
    assert old != config
    assert setting_of(old).id == setting_of(config).id


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
    ("+params.flag=true", "params.flag=true"),  # as the command line writes it, not True
])
def test_every_key_that_differs_from_the_defaults_changes_the_setting_and_is_labelled(extra,
                                                                                     label):
    base, other = _setting("section=3"), _setting("section=3", extra)
    assert base.label == "defaults"
    assert other.id != base.id and other.label == label


@pytest.mark.parametrize("given, label", [
    (["optimizer=adam"], "optimizer=adam"),  # the default choice, swept beside sgd
    (["optimizer=adam", "train.epochs=2"], "optimizer=adam train.epochs=2"),
    (["train.epochs=4"], "train.epochs=4"),  # section 3's own number of epochs
    (["seed=1", "section=3", "figures=false", "threads.blas=1"], "defaults"),  # not settings
    (["+params.note=x"], "params.note=x"),
])
def test_keys_given_on_the_command_line_are_labelled_at_their_default(compose_cfg, given,
                                                                       label):
    """A sweep's rows tell its settings apart by every key given, default or not; the id stays
    what the config alone makes it."""
    from omegaconf import OmegaConf

    args = ["section=3", *[g for g in given if not g.startswith(("section", "+"))]]
    config = OmegaConf.to_container(compose_cfg(args + [g for g in given if g[0] == "+"]),
                                    resolve=True)
    shown = setting_of(config, given)
    assert shown.label == label and shown.id == setting_of(config).id


def test_another_runs_checkpoint_counts_by_file_name():
    a = _setting("section=4", "experiment=transfer", "model.weights=/x/runs/1/model.pt")
    b = _setting("section=4", "experiment=transfer", "model.weights=/y/multirun/s/0/model.pt")
    assert a == b and "model.weights=.../model.pt" in a.label


@pytest.mark.parametrize("match", [{}, {"section": 1}, {"experiment": "mlp"},
                                   {"model.name": ["mlp", "mlp_small"]}, {"not": {"seed": 3}}])
def test_a_run_that_evaluated_a_saved_model_fits_no_course_number_claim_or_figure(match):
    """Its config does not say how the model it evaluated was trained: it fits only a match
    that names `checkpoint` (study.holds: course numbers, claims' arms, figures)."""
    from dlproj.config.study import holds

    config = {"section": 1, "experiment": "mlp", "model.name": "mlp",
              "checkpoint": "/x/model.npz"}
    assert not holds(match, config)
    assert holds(match, {**config, "checkpoint": None})
    assert holds({**match, "checkpoint": "/x/model.npz"}, config)


@pytest.mark.parametrize("key", ["seed", "hydra.run.dir", "params.torch_threads",
                                 "train.checkpoint_every", "logger.name", "data.root",
                                 "model.conv_algorithm"])
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


@pytest.mark.parametrize("overrides", [
    ("section=1", "model=mlp_small", "train.epochs=3"),
    ("section=3", "pooling=avg", "model.channels=[4,8]"),  # a list: a tuple once read back
    ("section=2", "optimizer=sgd", "optimizer.momentum=0.5"),
    ("section=4", "experiment=compare", "model=plain"),
])
def test_the_label_composes_the_defaults_once_per_conf(tmp_path, monkeypatch, overrides):
    """The experiment's defaults behind a label are composed once and read back from
    `<outputs>/compose-cache.json` by later processes, to the same label; another conf/ (another
    fingerprint) composes them again."""
    import json

    from dlproj.config import setting

    monkeypatch.setenv("DLPROJ_OUTPUTS", str(tmp_path))
    config = compose(list(overrides))
    fresh = setting._compose_cache.cache_clear, setting.experiment_defaults.cache_clear
    for clear in fresh:
        clear()
    first = setting_of(config, list(overrides))
    assert first.label not in ("?", "defaults")
    saved = tmp_path / "compose-cache.json"
    assert json.loads(saved.read_text())["entries"]["defaults"]
    for clear in fresh:  # as a new process would find it
        clear()
    monkeypatch.setattr(setting, "compose", lambda overrides: 1 / 0)
    assert setting_of(config, list(overrides)) == first
    data = json.loads(saved.read_text())
    saved.write_text(json.dumps({**data, "fingerprint": "another conf/"}))
    for clear in fresh:
        clear()
    assert setting_of(config, list(overrides)).label == "?"  # composing again: here, 1 / 0
    for clear in fresh:
        clear()


def test_compose_caches_of_processes_side_by_side_merge(tmp_path):
    """Two processes' caches, each saving what it composed: the file keeps both; a torn or
    foreign file reads as empty; a folder it cannot write costs only the cache."""
    from dlproj.config.cache import ComposeCache

    first, second = ComposeCache(tmp_path), ComposeCache(tmp_path)
    first.put("defaults", ("section=1", "experiment=mlp"), {"train.epochs": 10})
    second.put("settings", ("section=3", "pooling=avg"), "abc123")
    first.save()
    second.save()
    again = ComposeCache(tmp_path)
    assert again.get("defaults", ("section=1", "experiment=mlp")) == {"train.epochs": 10}
    assert again.get("settings", ("section=3", "pooling=avg")) == "abc123"
    for text in ("{\"fingerprint\": ", "[]", "{\"entries\": 3}"):
        (tmp_path / "compose-cache.json").write_text(text)
        assert ComposeCache(tmp_path).entries == {}
    blocked = tmp_path / "file"
    blocked.write_text("")
    cache = ComposeCache(blocked)  # its folder is a file: nothing can be written there
    cache.put("settings", ("x",), "y")
    cache.save()
    assert cache.get("settings", ("x",)) == "y"
