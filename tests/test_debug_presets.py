"""`debug=` presets: quick (tiny data, one epoch) and overfit (two batches until the loss is ~0)."""

from __future__ import annotations

import csv

import pytest

# One BLAS thread per step worker; Section 4: one torch thread (torch.set_num_threads), which on
# a busy 2-core machine trains these 32 images several times faster than two. Threads change no
# model, data or schedule: the run is still the section's default model under debug=overfit.
ONE_THREAD = ["threads.blas=1"]


def _train_losses(run_dir):
    with open(run_dir / "metrics.csv", newline="") as f:
        return [float(row["train_loss"]) for row in csv.DictReader(f)]


@pytest.mark.parametrize("section", [1, 2, 3, 4])
def test_overfit_drives_each_sections_default_model_to_zero_loss(dlproj_run, section):
    run = dlproj_run([f"section={section}", "debug=overfit", *ONE_THREAD])
    assert run.proc.returncode == 0, run.output
    result = run.results()
    assert result["status"] == "completed"
    assert result["config"]["data"]["train_limit"] == 32
    assert result["config"]["schedule"]["name"] == "constant"
    assert "/debug/runs/" in str(run.run_dir)
    losses = _train_losses(run.run_dir)
    assert len(losses) == result["config"]["train"]["epochs"] == 40
    assert losses[-1] < 0.05 and losses[-1] < losses[0] / 20, losses


def test_quick_is_one_epoch_on_tiny_data(dlproj_run):
    run = dlproj_run(["debug=quick"])
    assert run.proc.returncode == 0, run.output
    assert len(_train_losses(run.run_dir)) == 1
    assert "MNIST: 512 train, 256 val, 256 test" in run.output
    assert "/debug/runs/" in str(run.run_dir)


def test_command_line_wins_over_a_debug_preset(compose_cfg):
    cfg = compose_cfg(["debug=overfit", "train.epochs=7", "data.train_limit=32"])
    assert (cfg.train.epochs, cfg.data.train_limit, cfg.train.batch_size) == (7, 32, 16)
