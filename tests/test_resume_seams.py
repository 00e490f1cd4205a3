"""resume= across a run's seams: runs with no checkpoint to continue from (they train nothing, or
it is gone), and the early-stopping record of a run continued from its checkpoint."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from conftest import run_here

MLP = ["experiment=mlp", "data.train_limit=300", "data.test_limit=100", "data.val_size=100",
       "model.hidden=[8]", "train.epochs=1", "figures=false"]
GRADCHECK = ["section=2", "experiment=gradcheck", "params.max_entries=5"]
# Runs that leave no checkpoint to continue from (or lost it).
NOT_TRAINING = {
    "gradcheck": GRADCHECK,
    "receptive_field": ["section=3", "experiment=receptive_field", "figures=false"],
    "xor without its last.npz": ["experiment=xor", "train.epochs=3", "figures=false"],
    # writes nothing but its record
    "checkpoint= evaluation": [*(a for a in MLP if not a.startswith("train.")),
                               "checkpoint={model}"],
}
ENDED = ["interrupted", "failed", "completed"]


def _files(run_dir: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}


def _rows(path: Path) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "epoch_seconds"}
            for row in csv.DictReader(path.read_text().splitlines())]


def _copy(run_dir: Path, to: Path) -> Path:
    """A copy of a finished run's directory (mtimes kept) at `to`, for a test to resume or
    damage: the run it copies, shared by the module's tests, is left as it was. A resume
    continues the directory it is given (its own .hydra/overrides.yaml, hydra.run.dir=it)."""
    return Path(shutil.copytree(run_dir, to))


class SharedRuns:
    """Runs made once for a module (conftest.run_here, each in an outputs folder of its own),
    by their arguments; read-only: a test resumes or damages a _copy."""

    def __init__(self, root: Path) -> None:
        self.root, self.runs = root, {}

    def __call__(self, args: list[str]):
        key = tuple(args)
        if key not in self.runs:
            self.runs[key] = run_here(args, self.root / f"outputs{len(self.runs)}")
            assert self.runs[key].proc.returncode == 0, self.runs[key].output
        return self.runs[key]


@pytest.fixture(scope="module")
def shared_run(tmp_path_factory):
    """shared_run(args) -> Run: the run of `args`, made on first use and then shared."""
    return SharedRuns(tmp_path_factory.mktemp("shared_runs"))


def _set_status(run_dir: Path, status: str) -> None:
    record = json.loads((run_dir / "results.json").read_text())
    record["status"] = status
    (run_dir / "results.json").write_text(json.dumps(record))


@pytest.mark.parametrize("ended", ENDED)
@pytest.mark.parametrize("experiment", list(NOT_TRAINING))
def test_resuming_a_run_that_trains_nothing_starts_it_over(experiment, ended, dlproj_run,
                                                           shared_run, tmp_path):
    """It runs again from the start, its files those of a fresh run (no CSV rows twice); a
    completed one has nothing to resume: refused, the run left as it was. (The run: a copy of
    one made once for the module, which is also the fresh run its files are compared with.)"""
    args = NOT_TRAINING[experiment]
    if "checkpoint={model}" in args:
        model = shared_run(MLP).run_dir / "model.npz"
        args = [a.format(model=model) for a in args]
    fresh = shared_run(args).run_dir
    run_dir = _copy(fresh, tmp_path / "run")
    (run_dir / "last.npz").unlink(missing_ok=True)
    _set_status(run_dir, ended)  # as a Ctrl-C or an error would have left it
    before = _files(run_dir)
    resumed = dlproj_run([f"resume={run_dir}"])
    if ended == "completed":
        assert resumed.proc.returncode == 2, resumed.output
        assert "nothing to resume" in resumed.proc.stderr, resumed.proc.stderr
        assert _files(run_dir) == before
        return
    assert resumed.proc.returncode == 0, resumed.output
    assert json.loads((run_dir / "results.json").read_text())["status"] == "completed"
    for path in sorted(fresh.glob("*.csv")):
        assert _rows(run_dir / path.name) == _rows(path), path.name


ES = ["experiment=xor", "figures=false", "train.early_stopping.monitor=train_eval_loss",
      "train.early_stopping.min_delta=10"]  # nothing improves on epoch 1 by 10


@pytest.mark.parametrize("patience, more", [
    (1, ["train.early_stopping.patience=2"]),  # stopped early at epoch 2: more patience
    (1, ["train.early_stopping.patience=2", "train.epochs=5"]),
    (100, ["train.epochs=5"])])  # not stopped: more epochs
def test_a_resumed_run_keeps_its_best_epoch(patience, more, dlproj_run, shared_run, tmp_path):
    """The early-stopping fields of a run continued from its checkpoint (best before the stop)
    are those of the same run never stopped, started with what the resume gave."""
    args = [*ES, f"train.early_stopping.patience={patience}"]
    run_dir = _copy(shared_run([*args, "train.epochs=3"]).run_dir, tmp_path / "run")
    resumed = dlproj_run([f"resume={run_dir}", *more])
    assert resumed.proc.returncode == 0, resumed.output
    fresh = dlproj_run([*args, "train.epochs=3", *more]).results()
    assert fresh["last_epoch"] > 2  # it trained past the stop
    got = json.loads((run_dir / "results.json").read_text())
    keys = ("best_epoch", "best_value", "monitor", "mode", "stopped_early", "last_epoch")
    assert {k: got.get(k) for k in keys} == {k: fresh.get(k) for k in keys}
    assert fresh["best_epoch"] == 1


# Resuming a run that stopped early (train.epochs, patience: at epoch 1 + patience): what is
# refused, naming the key to give, and why; more epochs alone would train nothing.
STOPPED = {
    "as it was": (3, 1, [], "'train.early_stopping.patience': 1", "patience > 1 to train"),
    "more epochs": (3, 1, ["train.epochs=9"], "'train.early_stopping.patience': 1",
                    "patience > 1 to train"),
    # patience out on its last epoch: it ran its budget, so it completed, nothing stopped early
    "no epoch left": (2, 1, ["train.early_stopping.patience=4"], "'train.epochs': 2",
                      "which completed its 2 epochs. Allowed: train.epochs > 2"),
    "less patience": (5, 2, ["train.early_stopping.patience=1"],
                      "'train.early_stopping.patience': 1", "started with patience 2"),
}


@pytest.mark.parametrize("case", sorted(STOPPED))
def test_resuming_an_early_stopped_run_names_what_trains_it_further(case, dlproj_run,
                                                                   shared_run, tmp_path):
    epochs, patience, more, value, allowed = STOPPED[case]
    run_dir = _copy(shared_run([*ES, f"train.early_stopping.patience={patience}",
                                f"train.epochs={epochs}"]).run_dir, tmp_path / "run")
    assert json.loads((run_dir / "results.json").read_text())["last_epoch"] == 1 + patience
    before = _files(run_dir)
    resumed = dlproj_run([f"resume={run_dir}", *more])
    assert resumed.proc.returncode == 2, resumed.output
    err = resumed.proc.stderr
    assert err.count("dlproj: ") == 1 and f"Invalid value for {value} to resume" in err, err
    assert allowed in err, err
    assert _files(run_dir) == before


@pytest.mark.parametrize("patience", [2, 3, 4], ids=["lower", "same", "higher"])
@pytest.mark.parametrize("early_stopping", [True, False], ids=["on", "off"])
def test_resuming_with_other_patience(early_stopping, patience, dlproj_run, shared_run,
                                     tmp_path):
    """A completed 3-epoch run of patience 3 (it did not stop) resumed for 5 epochs: with early
    stopping on, less patience is refused (the run would be relabelled) and the same or more
    goes on; off (monitor null, which a resume cannot change) no patience is read, so any may
    be given (it was refused as lower once)."""
    args = [*(ES if early_stopping else ES[:2]), "train.early_stopping.patience=3",
            "train.epochs=3"]
    run_dir = _copy(shared_run(args).run_dir, tmp_path / "run")
    before = _files(run_dir)
    resumed = dlproj_run([f"resume={run_dir}", "train.epochs=5",
                          f"train.early_stopping.patience={patience}"])
    if early_stopping and patience < 3:
        assert resumed.proc.returncode == 2, resumed.output
        err = resumed.proc.stderr
        assert err.count("dlproj: ") == 1 and "Invalid value for 'train.early_stopping." \
            "patience': 2 to resume" in err and "started with patience 3" in err, err
        assert _files(run_dir) == before
        return
    assert resumed.proc.returncode == 0, resumed.output
    record = json.loads((run_dir / "results.json").read_text())
    # on: no epoch improves on epoch 1 by min_delta, so it stops after `patience` more
    assert record["status"] == "completed" and record["last_epoch"] == (
        1 + patience if early_stopping else 5)
    # ... before its last epoch: patience out on the last one stops nothing early
    assert record.get("stopped_early", False) == (early_stopping and 1 + patience < 5)


@pytest.mark.parametrize("log_every", [None, 5])
def test_the_log_has_the_last_epoch_of_an_early_stopped_run(log_every, dlproj_run):
    """Log lines every train.log_every epochs, plus the first and the last: the last is where
    early stopping ended the run (epoch 8 here), not train.epochs."""
    args = ["experiment=xor", "figures=false", "train.epochs=3000",
            "train.early_stopping.monitor=train_eval_acc", "train.early_stopping.patience=7",
            *([f"train.log_every={log_every}"] if log_every else [])]
    run = dlproj_run(args)
    assert run.proc.returncode == 0, run.output
    record = run.results()
    assert record["stopped_early"] and record["last_epoch"] == 8, record
    log = (run.run_dir / "dlproj.log").read_text()
    assert " - epoch 8/3000 " in log, log


# A Section 4 transfer run continued from its last.pt, after the model.pt it started from
# (model.weights=PATH) was removed or damaged: last.pt holds every weight, so it goes on as if
# nothing happened (it was refused as a bad model.weights). Without last.pt it trains from the
# start and needs that file: refused then, naming the key.
WEIGHTS_AFTER = {
    "kept": lambda path: None,
    "removed": lambda path: path.unlink(),
    "damaged": lambda path: path.write_bytes(b"not a torch file"),
}
TRANSFER = ["section=4", "experiment=transfer", "model=resnet", "model.depth=1", "model.width=4",
            "model.finetune=layer4", "data.train_limit=64", "data.test_limit=32",
            "data.val_size=32", "train.batch_size=32", "figures=false", "threads.blas=1"]


@pytest.fixture(scope="module")
def starting_weights(tmp_path_factory, shared_run):
    """(weights, fresh): a SmallResNet's first weights, and the 2-epoch transfer run from them
    never stopped, the file in place. Read-only: a test copies the weights to a file of its
    own (the same bytes, so the same run) and removes or damages that."""
    pytest.importorskip("torch")
    from dlproj.torchnets.checkpoint import save_state_dict
    from dlproj.torchnets.models import SmallResNet

    weights = save_state_dict(tmp_path_factory.mktemp("pretrained") / "model.pt", SmallResNet(
        depth=1, width=4, num_classes=10, in_channels=1, image_size=28))
    return weights, shared_run([*TRANSFER, f"model.weights={weights}", "train.epochs=2"]).run_dir


@pytest.mark.parametrize("kind", [*WEIGHTS_AFTER, "removed, and no last.pt"])
def test_resuming_a_transfer_run_whose_starting_weights_are_gone(kind, dlproj_run, tmp_path,
                                                                 torch_one_thread,
                                                                 starting_weights):
    shared, fresh = starting_weights
    weights = tmp_path / "pretrained" / "model.pt"
    weights.parent.mkdir()
    shutil.copy2(shared, weights)
    args = [*TRANSFER, f"model.weights={weights}"]
    run_dir = dlproj_run([*args, "train.epochs=1"]).run_dir
    WEIGHTS_AFTER[kind.partition(",")[0]](weights)
    if kind.endswith("no last.pt"):
        (run_dir / "last.pt").unlink()
        _set_status(run_dir, "interrupted")
    before = _files(run_dir)
    resumed = dlproj_run([f"resume={run_dir}", "train.epochs=2"])
    if kind.endswith("no last.pt"):
        assert resumed.proc.returncode == 2, resumed.output
        assert "Invalid value for 'model.weights'" in resumed.proc.stderr, resumed.output
        assert _files(run_dir) == before
        return
    assert resumed.proc.returncode == 0, resumed.output
    record = json.loads((run_dir / "results.json").read_text())
    assert record["status"] == "completed" and record["resumed_from_epoch"] == 1
    assert record["metrics"]["weights"] == str(weights)
    assert _rows(run_dir / "metrics.csv") == _rows(fresh / "metrics.csv")


# A transfer run resumed after the pretraining run its model.weights came from is gone or
# changed records what it recorded when it started: the weights' path and what they were
# pretrained on (read then from the results.json beside them). Its last.pt keeps both; a last.pt
# written before it did gives way to the run's own record.
PRETRAINING_AFTER = {
    "deleted": lambda folder: shutil.rmtree(folder),
    "moved": lambda folder: folder.rename(folder.with_name("moved")),
    "record removed": lambda folder: (folder / "results.json").unlink(),
    "record replaced": lambda folder: _pretraining_record(folder, {"name": "pets"}),
}
STOPPED_BY = ["SIGINT", "completing", "completing, last.pt of before"]


def _pretraining_record(folder: Path, dataset: dict) -> None:
    (folder / "results.json").write_text(json.dumps(
        {"status": "completed", "config": {"dataset": {"classes": None, "per_class": None,
                                                       **dataset}}}))


@pytest.fixture(scope="module")
def pretrained_on(tmp_path_factory):
    """(pretraining folder, its pristine copy, weights, {stopped: run dir}): a pretraining run's
    folder (model.pt, results.json: MNIST digits 0-4), and the transfer runs from its weights,
    one stopped by a real SIGINT after its first epoch (a process of its own), one completed
    after 1 epoch. Each test resumes a _copy of one, and puts the folder back as it was after
    removing, moving or changing it."""
    pytest.importorskip("torch")
    import signal

    from test_interrupt_resume import interrupt_after

    from dlproj.torchnets.checkpoint import save_state_dict
    from dlproj.torchnets.models import SmallResNet

    root = tmp_path_factory.mktemp("pretrained_on")
    folder = root / "pretraining run"
    weights = save_state_dict(folder / "model.pt", SmallResNet(
        depth=1, width=4, num_classes=5, in_channels=1, image_size=28))
    _pretraining_record(folder, {"name": "mnist", "classes": [0, 1, 2, 3, 4]})
    pristine = Path(shutil.copytree(folder, root / "pristine"))
    args = [*TRANSFER, f"model.weights={weights}", "dataset.classes=[5,6,7,8,9]"]
    proc, interrupted = interrupt_after([*args, "train.epochs=12"], root / "interrupted",
                                        signal.SIGINT, epochs_done=1)
    assert proc.returncode == 130, proc.stderr
    assert "pretrained_on" not in json.loads((interrupted / "results.json").read_text())[
        "metrics"]  # an interrupted run's record has only metrics.csv's last row
    completed = run_here([*args, "train.epochs=1"], root / "completed")
    assert completed.proc.returncode == 0, completed.output
    return folder, pristine, weights, {"SIGINT": interrupted, "completing": completed.run_dir}


@pytest.mark.parametrize("stopped", STOPPED_BY)
@pytest.mark.parametrize("after", list(PRETRAINING_AFTER))
def test_a_resumed_transfer_run_keeps_what_its_weights_were_pretrained_on(
        after, stopped, dlproj_run, tmp_path, torch_one_thread, pretrained_on):
    import torch

    folder, pristine, weights, runs = pretrained_on
    run_dir = _copy(runs[stopped.partition(",")[0]], tmp_path / "run")
    if stopped.endswith("of before"):  # written before checkpoints kept where weights came from
        last = torch.load(run_dir / "last.pt", weights_only=True)
        meta = json.loads(last["meta"])
        meta.pop("provenance", None)
        last["meta"] = json.dumps(meta)
        torch.save(last, run_dir / "last.pt")
    try:
        PRETRAINING_AFTER[after](folder)
        resumed = dlproj_run([f"resume={run_dir}", "train.epochs=12"])
    finally:  # the pretraining run's folder as it was, for the next test
        for changed in (folder, folder.with_name("moved")):
            shutil.rmtree(changed, ignore_errors=True)
        shutil.copytree(pristine, folder)
    assert resumed.proc.returncode == 0, resumed.output
    record = json.loads((run_dir / "results.json").read_text())
    assert record["status"] == "completed" and record["resumed_from_epoch"] >= 1
    assert (record["metrics"]["weights"], record["metrics"]["pretrained_on"]) == (
        str(weights), "MNIST digits 0-4")
