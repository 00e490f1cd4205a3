"""`checkpoint=PATH`: a relative PATH is taken from the project root, as `data.root` and
`model.weights` are (dlproj.paths.resolve_path), not from the working directory, so
`checkpoint=outputs/runs/<run>/model.npz` names the same file from anywhere.

Each case runs `python -m dlproj` in this process (conftest.run_here) with the project root moved
to a temporary folder (paths.PROJECT_ROOT) and the working directory elsewhere, where a decoy
model file sits at the same relative path: the run must evaluate the project root's file (its
metrics are those of a run given that file's absolute path, not the decoy's). Missing files:
tests/test_bad_inputs.py (test_relative_checkpoint_missing_under_the_project_root).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import run_here

from dlproj import paths
from dlproj.config.overrides import override

DATA = ["data.train_limit=128", "data.test_limit=100", "data.val_size=64", "threads.blas=1",
        "figures=false"]


def _mlp(seed: int, path: Path) -> Path:
    from dlproj.nn.checkpoint import save_checkpoint
    from dlproj.nn.mlp import build_mlp

    return save_checkpoint(path, build_mlp(784, [8], 10, activation="relu",
                                           rng=np.random.default_rng(seed)))


def _cnn(seed: int, path: Path) -> Path:
    from dlproj.nn.checkpoint import save_checkpoint
    from dlproj.nn.cnn import build_cnn

    return save_checkpoint(path, build_cnn([2, 2], rng=np.random.default_rng(seed)))


def _plain(seed: int, path: Path) -> Path:
    import torch

    from dlproj.torchnets.checkpoint import save_state_dict
    from dlproj.torchnets.models import PlainNet

    torch.manual_seed(seed)
    return save_state_dict(path, PlainNet(depth=1, width=4, num_classes=10, in_channels=1,
                                          image_size=28))


# kind -> (the command's overrides but checkpoint=, the model file's name, its writer)
KINDS = {
    "section 1 model.npz": (["section=1", "model.hidden=[8]", *DATA], "model.npz", _mlp),
    "section 3 model.npz": (["section=3", "model.channels=[2,2]", *DATA], "model.npz", _cnn),
    "section 4 model.pt": (["section=4", "model=plain", "model.depth=1", "model.width=4",
                            "train.batch_size=32", *DATA], "model.pt", _plain),
}
METRICS = ("test_loss", "test_acc", "val_loss", "val_acc")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """kind -> (real file, decoy file, metrics of each evaluated by its absolute path); the
    two files hold different weights, which the metrics tell apart."""
    tmp = tmp_path_factory.mktemp("checkpoints")
    made = {}
    for kind, (args, name, write) in KINDS.items():
        real, decoy = write(1, tmp / kind / "real" / name), write(2, tmp / kind / "decoy" / name)
        metrics = []
        for path in (real, decoy):
            run = run_here([*args, override("checkpoint", path)],
                           tmp / kind / f"outputs-{path.parent.name}")
            assert run.proc.returncode == 0, run.output
            metrics.append({k: run.results()["metrics"][k] for k in METRICS})
        assert metrics[0] != metrics[1], metrics  # the decoy would be told apart
        made[kind] = (real, decoy, *metrics)
    return made


# PATH as typed, from a working directory (relative to the temporary folder) that holds the decoy
# at PATH, and where the real file is: relative to the project root, or (`~`) to $HOME.
FORMS = {
    "plain": ("elsewhere", "outputs/runs/r/{name}"),
    "./": ("elsewhere", "./outputs/runs/r/{name}"),
    "..": ("elsewhere/sub", "../project/outputs/runs/r/{name}"),  # the project's own folder
    "x/..": ("elsewhere", "outputs/other/../runs/r/{name}"),
    "~": ("elsewhere", "~/runs/r/{name}"),
}


@pytest.mark.parametrize("form", list(FORMS))
@pytest.mark.parametrize("kind", list(KINDS))
def test_a_relative_checkpoint_is_taken_from_the_project_root(kind, form, files, tmp_path,
                                                              monkeypatch, torch_one_thread):
    args, name, _ = KINDS[kind]
    real, decoy, real_metrics, decoy_metrics = files[kind]
    cwd_name, typed = FORMS[form]
    typed = typed.format(name=name)
    project, home, cwd = tmp_path / "project", tmp_path / "home", tmp_path / cwd_name
    where = home / typed[2:] if typed.startswith("~") else project / typed
    for source, target in ((real, where), (decoy, cwd / typed)):
        target = Path(os.path.normpath(target))  # makedirs takes no `..`
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    if "/.." in typed:  # the folder `..` leaves, so that the decoy is a file at PATH there
        (cwd / typed.partition("/..")[0]).mkdir(parents=True)
    assert (cwd / typed).resolve() != where.resolve()
    monkeypatch.setenv("DLPROJ_DATA", str(paths.data_root()))  # MNIST stays where it is
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setattr(paths, "PROJECT_ROOT", project)
    monkeypatch.chdir(cwd.mkdir(parents=True, exist_ok=True) or cwd)
    run = run_here([*args, override("checkpoint", typed)], tmp_path / "outputs")
    assert run.proc.returncode == 0, run.output
    record = run.results()
    metrics = {k: record["metrics"][k] for k in METRICS}
    assert metrics == real_metrics != decoy_metrics, (metrics, real_metrics, decoy_metrics)
    assert record["config"]["checkpoint"] == typed  # the config keeps it as typed
    logs = "".join(p.read_text() for p in run.run_dir.rglob("*.log"))
    assert f"evaluated {where.resolve()}: " in logs, logs  # the file it read, absolute


def test_a_checkpoint_gone_since_the_check_names_the_path_typed_and_resolved(tmp_path,
                                                                             monkeypatch):
    """Between the config check and the load the file may go: the load's message shows it as
    typed and where it was looked for, and the working directory's file of that name is not
    read instead."""
    import logging

    from dlproj.errors import DataError
    from dlproj.experiments.common import evaluate_checkpoint
    from dlproj.nn.mlp import build_mlp

    home, root, cwd = tmp_path / "home", tmp_path / "project", tmp_path / "cwd"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setattr(paths, "PROJECT_ROOT", root)
    monkeypatch.chdir(cwd.mkdir() or cwd)
    for typed, where in (("gone/model.npz", root / "gone" / "model.npz"),
                         ("./gone.npz", root / "gone.npz"),
                         ("~/gone/model.npz", home / "gone" / "model.npz")):
        _mlp(0, cwd / typed)  # a decoy where the working directory would look
        model = build_mlp(784, [8], 10, activation="relu", rng=np.random.default_rng(1))
        ctx = SimpleNamespace(cfg=SimpleNamespace(checkpoint=typed), log=logging.getLogger())
        with pytest.raises(DataError) as err:
            evaluate_checkpoint(ctx, model, lambda: {})
        message = str(err.value)
        assert f"Checkpoint {typed!r} (resolved: {where}) does not exist" in message, message
        assert "from the project root" in message and "\n" not in message, message


def test_a_torch_checkpoint_gone_names_the_path_typed_and_resolved(tmp_path, monkeypatch):
    from dlproj.errors import DataError
    from dlproj.torchnets.checkpoint import load_state_dict

    root = tmp_path / "project"
    monkeypatch.setattr(paths, "PROJECT_ROOT", root)
    with pytest.raises(DataError) as err:
        load_state_dict(paths.resolve_path("runs/r/model.pt"), checkpoint="runs/r/model.pt")
    message = str(err.value)
    assert (f"Checkpoint 'runs/r/model.pt' (resolved: {root / 'runs' / 'r' / 'model.pt'}) "
            f"does not exist") in message, message
    assert "Pass `checkpoint=`" in message and "\n" not in message, message
