"""Section 4's transfer table as the course report has it (its 4.4.3 / Table 1): the SmallResNet
trained from scratch, pretrained ResNet18 frozen / layer4 + fc / all, ResNet18 from scratch as an
extra row; each run's results.json says which row it is and whether the data is the offline
stand-in (MNIST) for Oxford-IIIT Pet."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("torch")

from test_section4_runs import run_here  # noqa: E402

from dlproj.config.compose import normalize_overrides  # noqa: E402
from dlproj.errors import ConfigError  # noqa: E402

# The offline study's rows (docs/section4.md), pretraining run first; WEIGHTS stands for its
# model.pt. The lead's study file carries the same lists.
FEW = ["section=4", "experiment=transfer", "dataset=mnist", "dataset.classes=[5,6,7,8,9]",
       "dataset.per_class=100"]
PRETRAIN = ["section=4", "experiment=transfer", "dataset=mnist", "dataset.classes=[0,1,2,3,4]",
            "model=resnet18", "model.weights=none", "model.finetune=all", "+params.role=pretrain"]
ROWS = {
    "scratch SmallResNet": [*FEW, "model=resnet", "model.weights=none", "model.finetune=all"],
    "pretrained, frozen": [*FEW, "model=resnet18", "model.weights=WEIGHTS",
                           "model.finetune=frozen"],
    "pretrained, layer4 + fc": [*FEW, "model=resnet18", "model.weights=WEIGHTS",
                                "model.finetune=layer4"],
    "pretrained, all": [*FEW, "model=resnet18", "model.weights=WEIGHTS", "model.finetune=all"],
    "scratch ResNet18 (extra)": [*FEW, "model=resnet18", "model.weights=none",
                                 "model.finetune=all"],
}
# What each row's results.json says: network, pretrained_on, finetune.
EXPECTED = {
    "scratch SmallResNet": ("SmallResNet", None, "all"),
    "pretrained, frozen": ("ResNet18", "MNIST digits 0-4", "frozen"),
    "pretrained, layer4 + fc": ("ResNet18", "MNIST digits 0-4", "layer4"),
    "pretrained, all": ("ResNet18", "MNIST digits 0-4", "all"),
    "scratch ResNet18 (extra)": ("ResNet18", None, "all"),
}
# About 30 training images a run (2 steps of ResNet18), a 32-image validation split, 16 test
# images. One torch thread (threads.blas; machine-local, not part of the setting): the runner
# sets torch's threads itself, and tiny batches on a shared machine run far faster on one.
TINY = ["train.epochs=1", "train.batch_size=16", "data.train_limit=64", "data.val_size=32",
        "data.test_limit=16", "threads.blas=1", "figures=false"]  # the records are checked


def _with_weights(args: list[str], weights: Path) -> list[str]:
    return [f"model.weights={weights}" if a == "model.weights=WEIGHTS" else a for a in args]


@pytest.mark.parametrize("row", list(ROWS))
def test_every_row_passes_validation(row, compose_cfg, tmp_path, monkeypatch):
    from dlproj.runtime.validate import validate

    monkeypatch.setattr("dlproj.runtime.memory.guard", lambda cfg, exp: None)

    weights = tmp_path / "model.pt"
    weights.write_bytes(b"stands in for the pretraining run's model.pt")
    for args in (PRETRAIN, _with_weights(ROWS[row], weights)):
        validate(compose_cfg(args), normalize_overrides(args))


@pytest.mark.parametrize("bad,key", [
    (["model.weights=imagenet"], "model.weights"),  # ImageNet weights exist for ResNet18 only
    (["model.finetune=frozen"], "model.finetune"),  # a frozen random backbone learns nothing
    (["model.finetune=everything"], "model.finetune"),
    (["model.depth=0"], "model.depth"),
])
def test_smallresnet_transfer_refuses_what_it_cannot_do(bad, key, compose_cfg, monkeypatch):
    from dlproj.runtime.validate import validate

    monkeypatch.setattr("dlproj.runtime.memory.guard", lambda cfg, exp: None)

    args = [*FEW, "model=resnet", *bad]
    with pytest.raises(ConfigError, match=f"'{key}'"):
        validate(compose_cfg(args), normalize_overrides(args))


@pytest.mark.parametrize("dataset,text", [
    ({"name": "mnist", "classes": None, "per_class": None}, "MNIST"),
    ({"name": "mnist", "classes": [5, 6, 7, 8, 9], "per_class": 100},
     "MNIST digits 5-9, 100 per class"),
    ({"name": "mnist", "classes": [0, 1, 2, 3, 4], "per_class": None}, "MNIST digits 0-4"),
    ({"name": "mnist", "classes": [3, 8], "per_class": 10}, "MNIST digits 3,8, 10 per class"),
    ({"name": "mnist", "classes": [9, 7, 5], "per_class": None}, "MNIST digits 9,7,5"),
    ({"name": "pets", "classes": None, "per_class": None}, "Oxford-IIIT Pet (cat/dog)"),
    ({"name": "pets", "classes": [1, 0], "per_class": 50},
     "Oxford-IIIT Pet (dog/cat), 50 per class"),
])
def test_dataset_described_in_words(dataset, text):
    from omegaconf import OmegaConf

    from dlproj.data.images import describe

    assert describe(dataset) == text
    assert describe(OmegaConf.create(dataset)) == text  # the run's config reads the same


def test_pretrained_on_reads_the_pretraining_run(tmp_path):
    from dlproj.experiments.section4 import pretrained_on

    assert pretrained_on("none") is None and pretrained_on("imagenet") == "ImageNet"
    weights = tmp_path / "run" / "model.pt"
    weights.parent.mkdir()
    weights.write_bytes(b"")
    assert pretrained_on(str(weights)) == "a checkpoint"  # no results.json beside it
    for broken in ("{", "[]", '{"config": {}}', '{"config": {"dataset": 3}}'):
        (weights.parent / "results.json").write_text(broken)
        assert pretrained_on(str(weights)) == "a checkpoint", broken
    (weights.parent / "results.json").write_text(json.dumps(
        {"config": {"dataset": {"name": "mnist", "classes": [0, 1, 2, 3, 4], "per_class": None}}}))
    assert pretrained_on(str(weights)) == "MNIST digits 0-4"


@pytest.mark.slow
def test_the_rows_run_and_say_which_row_they_are(tmp_path, torch_one_thread):
    pretrain = run_here(tmp_path / "pretrain", [*PRETRAIN, *TINY])
    assert pretrain["status"] == "completed", pretrain["error"]
    weights = tmp_path / "pretrain" / "model.pt"
    seen, n_train = {}, set()
    for row, args in ROWS.items():
        run = run_here(tmp_path / row.replace(" ", "_"), [*_with_weights(args, weights), *TINY])
        assert run["status"] == "completed", (row, run["error"])
        m = run["metrics"]
        assert (m["network"], m["pretrained_on"], m["finetune"]) == EXPECTED[row]
        assert m["stand_in"] is True and m["dataset"] == "mnist"
        assert m["data"] == "MNIST digits 5-9, 100 per class"
        seen[row] = (m["network"], m["weights"], m["finetune"])
        n_train.add(m["n_train"])
    assert len(set(seen.values())) == len(ROWS)  # the rows are told apart by their records
    assert len(n_train) == 1  # and trained on the same images
    scratch = json.loads((tmp_path / "scratch_SmallResNet" / "results.json").read_text())
    # The same SmallResNet as the plain-vs-residual comparison (model=resnet's depth and width).
    assert scratch["config"]["model"] == {"_target_": "dlproj.torchnets.models.SmallResNet",
                                          "_partial_": True, "name": "resnet", "depth": 8,
                                          "width": 16, "weights": "none", "finetune": "all",
                                          "num_classes": None, "channels_last": True}
    # A ResNet18 checkpoint does not fit the SmallResNet: refused whole, never half-loaded.
    bad = run_here(tmp_path / "bad", [*FEW, "model=resnet", "model.finetune=layer4",
                                      f"model.weights={weights}", *TINY])
    assert bad["status"] == "failed"
    assert "do not fit the SmallResNet" in bad["error"] and "model.depth" in bad["error"]
    # ... nor a SmallResNet's the ResNet18, whose advice names no key it refuses (model.depth
    # was advised, then refused as a key model=resnet18 does not take; "the ResNet" named it)
    small = tmp_path / "scratch_SmallResNet" / "model.pt"
    into18 = run_here(tmp_path / "bad18", [*FEW, "model=resnet18", "model.finetune=layer4",
                                           f"model.weights={small}", *TINY])
    assert into18["status"] == "failed"
    assert "do not fit the ResNet18 of this config" in into18["error"]
    assert "a run of model=resnet18 wrote" in into18["error"]
    assert "model.weights=none model.finetune=all" in into18["error"]  # none alone is refused
    assert "model.depth" not in into18["error"] and "model.width" not in into18["error"]


# `python -m dlproj` started in a folder other than the project's, a single run and a sweep's
# jobs alike (in this process or in joblib's workers), with model.weights relative to the
# project root, as a relative data.root is: each job loads that file and records its absolute
# path and what it was pretrained on; the config keeps the path as it was typed. The run and the
# basic sweep run in this process, its working directory that folder (the entry point of
# `python -m dlproj`, conftest.run_here); the joblib sweep is a process started there, so that
# its workers start there too (this process's loky workers may outlive a test and be reused).
# No sweep report (the aggregate callback): none is read here.
LAUNCHED = {
    "run": [],
    "sweep": ["-m", "model.finetune=frozen,layer4", "~hydra.callbacks.aggregate"],
    "joblib sweep": ["-m", "model.finetune=frozen,layer4", "hydra/launcher=joblib",
                     "hydra.launcher.n_jobs=2", "~hydra.callbacks.aggregate"],
}


@pytest.mark.parametrize("launched", list(LAUNCHED))
def test_relative_weights_from_another_directory(launched, tmp_path, monkeypatch):
    import os
    import subprocess
    import sys

    from conftest import ROOT
    from conftest import run_here as run_in_this_process

    from dlproj.torchnets.checkpoint import save_state_dict
    from dlproj.torchnets.models import SmallResNet

    weights = save_state_dict(tmp_path / "pretraining run" / "model.pt", SmallResNet(
        depth=1, width=4, num_classes=5, in_channels=1, image_size=28))
    (weights.parent / "results.json").write_text(json.dumps({"config": {"dataset": {
        "name": "mnist", "classes": [0, 1, 2, 3, 4], "per_class": None}}}))
    typed = os.path.relpath(weights, ROOT)  # ../../tmp/.../model.pt
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    outputs = tmp_path / "outputs"
    finetune = [] if launched != "run" else ["model.finetune=layer4"]
    args = [*LAUNCHED[launched], "section=4", "experiment=transfer", "model=resnet",
            "model.depth=1", "model.width=4", f"model.weights={typed}", *finetune,
            "dataset.classes=[5,6,7,8,9]", "data.train_limit=64", "data.test_limit=32",
            "data.val_size=32", "train.batch_size=32", "train.epochs=1", "figures=false",
            "threads.blas=1"]
    if launched == "joblib sweep":
        env = {**os.environ, "DLPROJ_OUTPUTS": str(outputs), "DLPROJ_PROGRESS": "0",
               "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(
                   [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
        env.pop("HYDRA_FULL_ERROR", None)
        proc = subprocess.run([sys.executable, "-m", "dlproj", *args], cwd=elsewhere, env=env,
                              capture_output=True, text=True, timeout=300)
        code, output = proc.returncode, proc.stdout + proc.stderr
    else:
        monkeypatch.chdir(elsewhere)
        run = run_in_this_process(args, outputs)
        code, output = run.proc.returncode, run.output
    assert code == 0, output
    records = [json.loads(p.read_text()) for p in sorted(outputs.rglob("results.json"))]
    assert len(records) == (1 if launched == "run" else 2), output
    for record in records:
        assert record["status"] == "completed", record["error"]
        assert (record["metrics"]["weights"], record["metrics"]["pretrained_on"]) == (
            str(weights.resolve()), "MNIST digits 0-4")
        assert record["config"]["model"]["weights"] == typed
    assert not list(elsewhere.iterdir())  # nothing written where the command ran
