"""Section 4 end to end: `python -m dlproj section=4 ...` on tiny MNIST and a tiny Oxford-IIIT Pet
in torchvision's on-disk layout, weights passed on through model.weights=PATH, and the errors."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("torchvision")

from conftest import ROOT  # noqa: E402

from dlproj.errors import DataError  # noqa: E402

ONE_THREAD = {"OMP_NUM_THREADS": "1"}  # tiny tensors; the test machine may be shared
# One torch thread (threads.blas, machine-local: the runner sets torch's threads from it, so
# OMP_NUM_THREADS alone does not reach a run in this process); a 64-image validation split.
BUDGET = ["section=4", "train.epochs=1", "train.batch_size=32", "data.train_limit=96",
          "data.test_limit=64", "data.val_size=64", "threads.blas=1"]
TINY = [*BUDGET, "model.depth=2", "model.width=4"]  # PlainNet / SmallResNet (not ResNet18)


def make_pets(root: Path, n_trainval: int = 8, n_test: int = 4) -> Path:
    """A tiny Oxford-IIIT Pet in the real layout: images/*.jpg, annotations/{list,trainval,
    test}.txt with lines `IMAGE CLASS-ID SPECIES BREED-ID` (species 1 = cat, 2 = dog)."""
    from PIL import Image

    folder = root / "oxford-iiit-pet"
    (folder / "images").mkdir(parents=True)
    (folder / "annotations").mkdir()
    rng = np.random.default_rng(0)
    lines = {"trainval": [], "test": []}
    for split, n in (("trainval", n_trainval), ("test", n_test)):
        for i in range(n):
            cat = i % 2 == 0
            breed, class_id, breed_id = (("Abyssinian", 1, 1) if cat
                                         else ("american_bulldog", 2, 1))
            name = f"{breed}_{split}{i}"
            pixels = rng.integers(0, 80, (30 + i, 40, 3), dtype=np.uint8)
            pixels[..., 0 if cat else 2] += 150  # cats reddish, dogs bluish
            Image.fromarray(pixels).save(folder / "images" / f"{name}.jpg")
            lines[split].append(f"{name} {class_id} {1 if cat else 2} {breed_id}")
    header = "#Image CLASS-ID SPECIES BREED ID\n#ID: 1:37 Class ids\n#SPECIES: 1:Cat 2:Dog\n"
    (folder / "annotations" / "list.txt").write_text(
        header + "\n".join(lines["trainval"] + lines["test"]) + "\n")
    for split, rows in lines.items():
        (folder / "annotations" / f"{split}.txt").write_text("\n".join(rows) + "\n")
    return root


def run_here(run_dir: Path, overrides: list[str]) -> dict:
    """One run in this process (no new interpreter, no torch import): compose + execute."""
    from dlproj.config.compose import compose_config, normalize_overrides
    from dlproj.runtime.runner import execute

    overrides = normalize_overrides(overrides)
    return execute(compose_config(overrides), run_dir=run_dir, is_multirun=True,
                   overrides=overrides)


pytestmark = pytest.mark.usefixtures("torch_one_thread")


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path) as fh:
        return list(csv.DictReader(fh))


def test_pets_fixture_through_torchvision(tmp_path):
    from omegaconf import OmegaConf

    from dlproj.build import build
    from dlproj.config.compose import compose_config
    from dlproj.data.images import open_pets

    root = make_pets(tmp_path)
    ds = open_pets(root, "trainval", download=False)
    assert len(ds) == 8 and [ds[i][1] for i in range(4)] == [0, 1, 0, 1]

    def images(*overrides: str):  # as Section 4 builds its data from the config
        cfg = compose_config(["section=4", "dataset=pets", "dataset.image_size=24",
                              "train.batch_size=8", "augmentation=standard",
                              f"data.root={root}", *overrides])
        return build(cfg.dataset)(**OmegaConf.to_container(cfg.data, resolve=True),
                                  batch_size=cfg.train.batch_size, channels=3,
                                  augment=build(cfg.augmentation)(), seed=0)

    data = images()
    x, y = next(iter(data.train))
    assert x.shape == (8, 3, 24, 24) and sorted(y.tolist()) == [0] * 4 + [1] * 4
    assert data.n_train == 8 and data.class_names == ["cat", "dog"]
    data = images("dataset.classes=[1,0]", "dataset.per_class=2")  # dogs first, two of each
    assert data.n_train == 4 and data.class_names == ["dog", "cat"]


# Each dataset, as the config check counts its classes and as its data has them: the one
# model.num_classes it takes besides null is the number of classes the data has.
CLASSES = {
    "MNIST": ([], 10),
    "MNIST digits 5-9": (["dataset.classes=[5,6,7,8,9]"], 5),
    "MNIST digits 3,8": (["dataset.classes=[3,8]"], 2),
    "Pets": (["dataset=pets", "dataset.image_size=24"], 2),
    "Pets dog/cat": (["dataset=pets", "dataset.image_size=24", "dataset.classes=[1,0]"], 2),
}


@pytest.mark.parametrize("case", sorted(CLASSES))
def test_a_head_takes_as_many_classes_as_the_data_has(case, tmp_path, monkeypatch):
    from omegaconf import OmegaConf

    from dlproj.build import build
    from dlproj.config.compose import compose_config, normalize_overrides
    from dlproj.errors import ConfigError
    from dlproj.runtime.validate import validate

    monkeypatch.setattr("dlproj.runtime.memory.guard", lambda cfg, exp: None)
    data, count = CLASSES[case]
    root = [f"data.root={make_pets(tmp_path)}"] if "dataset=pets" in data else []
    base = ["section=4", *data, *root, "data.train_limit=200", "data.test_limit=50",
            "data.val_size=50"]

    def checked(heads: str):
        args = normalize_overrides([*base, f"model.num_classes={heads}"])
        cfg = compose_config(args)
        validate(cfg, args)
        return cfg

    checked("null")
    cfg = checked(str(count))
    for heads in (h for h in (count + 1, count - 1) if h >= 2):  # 1: its range refuses it
        with pytest.raises(ConfigError, match=f"'model.num_classes': {heads}. Allowed: null "
                                              f"\\(the dataset's\\) or {count},"):
            checked(str(heads))
    images = build(cfg.dataset)(**OmegaConf.to_container(cfg.data, resolve=True),
                                batch_size=8, channels=1, augment=build(cfg.augmentation)(),
                                seed=0)
    assert images.num_classes == len(images.class_names) == count
    assert {int(y) for _, labels in images.train for y in labels} <= set(range(count))


def test_missing_pets_names_the_folder_and_the_offline_way(tmp_path, monkeypatch):
    import torchvision.datasets.oxford_iiit_pet as pet_module

    from dlproj.data.images import open_pets

    with pytest.raises(DataError) as err:
        open_pets(tmp_path, "trainval", download=False)
    msg = str(err.value)
    assert str(tmp_path / "oxford-iiit-pet") in msg and "dataset=mnist" in msg
    assert "annotations/list.txt" in msg

    def offline(url, download_root, **kwargs):  # as torchvision: the folder, then the failure
        Path(download_root).mkdir(parents=True, exist_ok=True)
        raise OSError("<urlopen error [Errno -3] Temporary failure in name resolution>")

    monkeypatch.setattr(pet_module, "download_and_extract_archive", offline)
    with pytest.raises(DataError, match="could not be downloaded") as err:
        open_pets(tmp_path, "trainval", download=True)
    assert "dataset=mnist" in str(err.value)
    assert not (tmp_path / "oxford-iiit-pet").exists()  # no empty folder left behind


@pytest.mark.slow
def test_compare_run_writes_metrics_gradients_plots_and_a_checkpoint(dlproj_run):
    run = dlproj_run([*TINY, "model=plain"], env=ONE_THREAD)
    assert run.proc.returncode == 0, run.output
    assert "(1 torch thread(s))" in run.output and "BLAS" not in run.output  # torch's, not NumPy's
    d = run.run_dir
    rec = run.results()
    assert rec["status"] == "completed" and rec["config"]["dataset"]["name"] == "mnist"
    rows = read_csv(d / "metrics.csv")
    assert list(rows[0]) == ["epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc",
                             "test_loss", "test_acc", "epoch_seconds"]
    steps = read_csv(d / "grad_norms.csv")
    assert len(steps) == 3  # 96 images in batches of 32
    assert list(steps[0])[:3] == ["step", "epoch", "stem.0"] and list(steps[0])[-1] == "head"
    assert all(float(v) > 0 for k, v in steps[0].items() if k not in ("step", "epoch"))
    for name in ("curves.png", "gradflow_first_last.png", "gradflow_depth.png", "model.pt"):
        assert (d / name).stat().st_size > 0, name
    # The checkpoint reproduces the run's final validation accuracy.
    evaluate = [a for a in TINY if a != "train.epochs=1"]  # refused with checkpoint=
    again = run_here(d.parent / "eval", [*evaluate, "model=plain", f"checkpoint={d / 'model.pt'}"])
    assert again["status"] == "completed", again["error"]
    assert again["metrics"]["val_acc"] == pytest.approx(float(rows[-1]["val_acc"]))


@pytest.mark.slow
def test_transfer_through_a_checkpoint_path(tmp_path):
    pretrain = run_here(tmp_path / "pretrain", [
        *BUDGET, "experiment=transfer", "model.weights=none", "model.finetune=all",
        "dataset.classes=[0,1,2,3,4]", "data.train_limit=32"])
    assert pretrain["status"] == "completed", pretrain["error"]
    weights = tmp_path / "pretrain" / "model.pt"
    run = run_here(tmp_path / "transfer", [
        *BUDGET, "experiment=transfer", f"model.weights={weights}", "model.finetune=frozen",
        "dataset.classes=[5,6,7,8,9]", "dataset.per_class=4"])
    assert run["status"] == "completed", run["error"]
    metrics = run["metrics"]
    assert metrics["weights"] == str(weights)
    assert metrics["n_train"] == 20 and metrics["trainable_params"] == 512 * 5 + 5
    assert list(read_csv(tmp_path / "transfer" / "grad_norms.csv")[0])[2:] == ["fc"]


def test_pets_run_on_the_fixture(tmp_path):
    root = make_pets(tmp_path / "data")
    run = run_here(tmp_path / "run", [
        *TINY, "dataset=pets", f"data.root={root}", "dataset.image_size=32",
        "augmentation=standard", "train.batch_size=4"])
    assert run["status"] == "completed", run["error"]
    rows = read_csv(tmp_path / "run" / "metrics.csv")
    assert "val_acc" in rows[0] and "test_acc" not in rows[0]  # pets: the test split validates
    assert run["metrics"]["n_train"] == 8


DAMAGED_IMAGE = {  # what a pets image can become: each is one paragraph naming the file
    "not_an_image": lambda path: path.write_bytes(b"\xff\xd8\xff not a jpeg"),
    "truncated": lambda path: path.write_bytes(path.read_bytes()[:200]),
    "missing": lambda path: path.unlink(),
}


@pytest.mark.parametrize("workers", [0, 1])  # decoded here, or in a DataLoader process
@pytest.mark.parametrize("damage", sorted(DAMAGED_IMAGE))
def test_a_damaged_pets_image_fails_the_run_naming_the_file(tmp_path, damage, workers):
    root = make_pets(tmp_path / "data")
    image = root / "oxford-iiit-pet" / "images" / "Abyssinian_trainval0.jpg"
    DAMAGED_IMAGE[damage](image)
    run = run_here(tmp_path / "run", [
        *TINY, "dataset=pets", f"data.root={root}", "dataset.image_size=32",
        f"dataset.num_workers={workers}", "data.download=false"])
    assert run["status"] == "failed"
    error = run["error"]
    assert str(image) in error and "images.tar.gz" in error, error
    assert "\n" not in error and "Traceback" not in error, error


def test_errors_name_the_key_or_the_missing_file(dlproj_run, tmp_path):
    run = dlproj_run(["section=4", "dataset=pets", f"data.root={tmp_path}",
                      "data.download=false"], env=ONE_THREAD)
    assert run.proc.returncode == 1
    assert str(tmp_path / "oxford-iiit-pet") in run.output and "dataset=mnist" in run.output
    assert run.results()["status"] == "failed"
    run = dlproj_run(["section=4", "model=plain", "model.weights=imagenet"])
    assert run.proc.returncode == 2 and "'model.weights'" in run.output, run.output
    rec = run_here(tmp_path / "w", ["section=4", "model.weights=/no/such/model.pt"])
    assert rec["status"] == "invalid" and "'model.weights'" in rec["error"]  # not a run
    assert not (tmp_path / "w" / "results.json").exists()
    assert "/no/such/model.pt" in rec["error"] and "existing model.pt" in rec["error"]


def test_listing_experiments_imports_no_torch():
    code = ("import json, sys, dlproj.experiments.registry as r; r.load_all(); "
            "print(json.dumps([sorted(n for s, n in r._REGISTRY if s == 4), "
            "'torch' in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    assert json.loads(out) == [["compare", "transfer"], False]


@pytest.mark.slow
def test_same_seed_same_run_other_seed_other_run(tmp_path):
    args = [*TINY, "model=resnet", "augmentation=standard", "data.train_limit=64"]
    runs = [run_here(tmp_path / name, [*args, f"seed={seed}"])
            for name, seed in (("a", 0), ("b", 0), ("c", 1))]
    assert all(r["status"] == "completed" for r in runs)
    losses = [r["metrics"]["train_loss"] for r in runs]
    assert losses[0] == losses[1] != losses[2]


# ResNet18 at 28 px: layer4's map is 1x1, so a training batch of one image leaves its batch norm
# one value per channel (torch raised ValueError mid-epoch, a traceback). Refused before the
# first step, naming train.batch_size; (classes, per_class, batch_size) -> n_train images.
ONE_IMAGE_BATCH = {
    "every batch": (["dataset.classes=[0,1]", "dataset.per_class=2", "train.batch_size=1"],
                    "every training batch is a single image"),
    "the last batch": (["dataset.classes=[0,1]", "dataset.per_class=3", "train.batch_size=5"],
                       "the last training batch is a single image"),
}
TRANSFER_SCRATCH = [*BUDGET, "experiment=transfer", "model.weights=none", "model.finetune=all",
                    "figures=false"]


@pytest.mark.parametrize("kind", sorted(ONE_IMAGE_BATCH))
def test_a_training_batch_of_one_image_resnet18_cannot_train_is_refused(tmp_path, kind):
    overrides, words = ONE_IMAGE_BATCH[kind]
    run = run_here(tmp_path / "run", [*TRANSFER_SCRATCH, *overrides])
    assert run["status"] == "invalid", run  # a ConfigError: exit 2, not a failed run
    error = run["error"]
    assert "Invalid value for 'train.batch_size'" in error and words in error, error
    assert "layer4" in error and "Allowed:" in error and "\n" not in error, error
    assert not (tmp_path / "run" / "results.json").exists()


@pytest.mark.parametrize("kind", ["larger images", "SmallResNet"])
def test_a_batch_of_one_image_trains_where_batch_norm_sees_more_than_one_value(tmp_path, kind):
    extra = ["dataset.image_size=40"] if kind == "larger images" else [
        "model=resnet", "model.depth=1", "model.width=4"]
    run = run_here(tmp_path / "run", [*TRANSFER_SCRATCH, *ONE_IMAGE_BATCH["every batch"][0],
                                      *extra])
    assert run["status"] == "completed", run["error"]


@pytest.mark.parametrize("finetune", ["frozen", "layer4", "all"])
def test_gradient_means_of_the_layers_that_train(tmp_path, finetune):
    """grad_last_mean (the head) in every transfer run; grad_first_mean only where the first
    layer trains (it was left out of both under frozen and layer4)."""
    from dlproj.torchnets.checkpoint import save_state_dict
    from dlproj.torchnets.models import resnet18

    weights = save_state_dict(tmp_path / "pretrained" / "model.pt", resnet18(num_classes=5))
    run = run_here(tmp_path / "run", [
        *BUDGET, "experiment=transfer", f"model.weights={weights}",
        f"model.finetune={finetune}", "dataset.classes=[5,6]", "dataset.per_class=4",
        "train.batch_size=4", "figures=false"])
    assert run["status"] == "completed", run["error"]
    metrics = run["metrics"]
    head = [float(r["fc"]) for r in read_csv(tmp_path / "run" / "grad_norms.csv")]
    assert metrics["grad_last_mean"] == pytest.approx(sum(head) / len(head))
    assert ("grad_first_mean" in metrics) == (finetune == "all"), metrics
