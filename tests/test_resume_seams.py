"""resume= across a run's seams: the early-stopping record of a run continued from its
checkpoint."""

from __future__ import annotations

import json

import pytest

ES = ["experiment=xor", "figures=false", "train.early_stopping.monitor=train_eval_loss",
      "train.early_stopping.min_delta=10"]  # nothing improves on epoch 1 by 10


@pytest.mark.parametrize("patience", [1, 100])  # stopped early at epoch 2 / not stopped
def test_a_resumed_run_keeps_its_best_epoch(patience, dlproj_run):
    """The early-stopping fields of a run continued from its checkpoint (best before the stop)
    are those of the same run never stopped."""
    args = [*ES, f"train.early_stopping.patience={patience}"]
    run_dir = dlproj_run([*args, "train.epochs=3"]).run_dir
    resumed = dlproj_run([f"resume={run_dir}", "train.epochs=5"])
    assert resumed.proc.returncode == 0, resumed.output
    fresh = dlproj_run([*args, "train.epochs=5"]).results()
    got = json.loads((run_dir / "results.json").read_text())
    keys = ("best_epoch", "best_value", "monitor", "mode", "stopped_early", "last_epoch")
    assert {k: got.get(k) for k in keys} == {k: fresh.get(k) for k in keys}
    assert fresh["best_epoch"] == 1
