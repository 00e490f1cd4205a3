"""A run whose loss blows up is recorded `diverged`, whether the loss turns NaN/inf or stays
finite (1e16 is no result either): one rule, dlproj/training/divergence.py, in the one training
loop every section shares (dlproj/training/loop.py), with train.divergence_factor checked like
every key."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from dlproj.errors import Diverged

_DATA = ["data.train_limit=256", "data.val_size=256", "data.test_limit=256", "figures=false",
         "train.epochs=2", "threads.blas=1"]

# Learning rates that blow each section's model up to a finite loss of 1e6 to 1e16 within a
# few steps (the first loss: 0.5 to 4): every section, the NumPy stacks and torch's.
BLOW_UPS = {
    "s1-mlp": ["section=1", "optimizer=adam", "optimizer.lr=1e3"],
    "s1-sin": ["section=1", "experiment=sin", "optimizer=adam", "optimizer.lr=1e3",
               "params.n_train=256"],
    "s1-xor": ["section=1", "experiment=xor", "optimizer=adam", "optimizer.lr=1e4"],
    "s2-train": ["section=2", "optimizer=adam", "optimizer.lr=1e6"],
    "s3-cnn": ["section=3", "optimizer=adam", "optimizer.lr=1e4"],
    "s4-compare": ["section=4", "optimizer=adam", "optimizer.lr=1e6"],
    "s4-transfer": ["section=4", "experiment=transfer", "model=resnet", "model.weights=none",
                    "model.finetune=all", "optimizer=adam", "optimizer.lr=1e6"],
}


@pytest.mark.parametrize("case", list(BLOW_UPS))
def test_a_finite_blow_up_is_recorded_diverged(dlproj_run, case):
    """The loss stays finite (no NaN/inf), but rises past train.divergence_factor times the
    run's first loss: diverged, exit 1, the record saying by how much. With
    train.stop_on_divergence=false the same run completes, as it did before the rule."""
    # xor and sin read no MNIST split: data.* is refused with them (an unread setting)
    budget = [a for a in _DATA if not (case in ("s1-sin", "s1-xor") and a.startswith("data."))]
    run = dlproj_run([*BLOW_UPS[case], *budget])
    record = run.results()
    assert (run.proc.returncode, record["status"]) == (1, "diverged"), run.output
    assert "over train.divergence_factor=10000 times the run's first loss" in record["error"]
    assert run.output.count("run diverged: loss became") == 1, run.output
    value = float(record["error"].split("loss became ")[1].split(" ")[0])
    assert math.isfinite(value) and value > 1e4 * record["first_loss"] > 0

    kept_on = dlproj_run([*BLOW_UPS[case], *budget, "train.stop_on_divergence=false"])
    assert kept_on.results()["status"] == "completed", kept_on.output
    assert kept_on.proc.returncode == 0


@pytest.mark.parametrize("factor,losses,diverges_at", [
    (1e4, [2.0, 1.5, 2e4], None),  # exactly the factor: not over it
    (1e4, [2.0, 1.5, 2.0001e4], 2),
    (1e4, [2.0, 1e30], 1),
    (1e4, [2.0, math.nan], 1),
    (1e4, [2.0, math.inf], 1),
    (1e4, [math.inf], 0),  # the first loss itself
    (100.0, [0.5, 49.0, 51.0], 2),
    (None, [2.0, 1e30, 1e300], None),  # null: NaN/inf only
    (None, [2.0, 1e30, math.nan], 2),
    (1e3, [0.0, 1e-3, 1.0, 1.01], 3),  # a first loss of 0 sets no scale: 1e-3 does
    (1e4, [-1.0, 1e9], None),  # nor does one below 0
], ids=lambda v: str(v))
def test_the_rule(factor, losses, diverges_at):
    """Each training step's loss in turn; the first one above 0 sets the scale."""
    from dlproj.training.divergence import Divergence

    rule = Divergence(factor)
    for i, loss in enumerate(losses):
        if i == diverges_at:
            with pytest.raises(Diverged):
                rule.check(loss, f"step {i + 1}", first=True)
            return
        assert rule.check(loss, f"step {i + 1}", first=True) == loss
    assert diverges_at is None


@pytest.mark.parametrize("loss", [1e30, math.nan, math.inf])
def test_stop_on_divergence_false_lets_every_loss_through(loss):
    from dlproj.training.divergence import Divergence

    rule = Divergence(1e4, stop=False)
    rule.check(2.0, "step 1", first=True)
    assert rule.check(loss, "step 2", first=True) is loss or math.isnan(loss)


def test_an_evaluation_loss_is_held_to_the_bound_but_sets_none():
    """val_loss / test_mse count against the first training loss, but never become it."""
    from dlproj.training.divergence import Divergence

    rule = Divergence(1e4)
    assert rule.check(1e9, "epoch 1 (val_loss)") == 1e9  # no scale yet: only NaN/inf count
    rule.check(2.0, "step 1", first=True)
    with pytest.raises(Diverged, match=r"val_loss\), over train.divergence_factor=10000"):
        rule.check(3e4, "epoch 1 (val_loss)")


@pytest.mark.parametrize("value,allowed", [
    ("1", "a number > 1"), ("0.5", "a number > 1"), ("0", "a number > 1"),
    ("-3", "a number > 1"), ("inf", "a number > 1"), ("nan", "a number > 1"),
    ("abc", "a number"), ("[1,2]", "a number"),
])
def test_a_bad_divergence_factor_is_one_paragraph(dlproj_run, value, allowed):
    run = dlproj_run(["section=2", *_DATA, f"train.divergence_factor={value}"])
    err = run.proc.stderr
    assert run.proc.returncode == 2, run.output
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("dlproj: Invalid value for 'train.divergence_factor'"), err
    assert f"Allowed: {allowed}" in err, err
    assert not list(run.outputs.rglob("results.json"))


@pytest.mark.parametrize("value", ["null", "100", "1e6"])
def test_a_divergence_factor_in_range_runs(dlproj_run, value):
    run = dlproj_run(["section=2", *_DATA, f"train.divergence_factor={value}"])
    record = run.results()
    assert record["status"] == "completed", run.output
    assert record["config"]["train"]["divergence_factor"] == (None if value == "null"
                                                              else float(value))


def _forget_the_rule(last) -> None:
    """Make `last` (a last.npz) as a checkpoint written before the rule: no first loss kept,
    no train.divergence_factor in its config."""
    with np.load(last, allow_pickle=False) as held:
        arrays = dict(held)
    meta = json.loads(str(arrays["meta"]))
    del meta["divergence"]
    config = json.loads(meta["config"])
    del config["train"]["divergence_factor"]
    meta["config"] = json.dumps(config, sort_keys=True)
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez(last, **arrays)


@pytest.mark.parametrize("written", ["with the rule", "before the rule"])
def test_a_resumed_run_keeps_its_first_loss(dlproj_run, written):
    """A resume continues the rule where the run left it: the first loss comes back from the
    checkpoint. One written before the rule is resumed too (its config lacks the key at the
    value runs before it were taken to have), from the first loss it measures then."""
    first = dlproj_run(["section=2", "schedule=constant", *_DATA, "train.epochs=1"])
    record = first.results()
    assert record["status"] == "completed", first.output
    if written == "before the rule":
        _forget_the_rule(first.run_dir / "last.npz")
    again = dlproj_run([f"resume={first.run_dir}", "train.epochs=2"])
    resumed = again.results(first.run_dir)
    assert resumed["status"] == "completed" and resumed["resumed_from_epoch"] == 1, again.output
    if written == "with the rule":
        assert resumed["first_loss"] == record["first_loss"]
    else:
        assert 0 < resumed["first_loss"] < record["first_loss"]  # epoch 2's first step
