"""The activation study (course report 1.3 / 8): sigmoid, tanh and ReLU on the MNIST MLP
(784-512-256-10), each with the initialisation `init: auto` picks for it; a sweep and a figure."""

from __future__ import annotations

import numpy as np
import pytest

from dlproj.build import build
from dlproj.config import study as studies
from dlproj.config.compose import compose_config
from dlproj.report.figures import draw
from dlproj.report.runs import read_runs

ACTIVATIONS = ("sigmoid", "tanh", "relu")


@pytest.mark.parametrize("activation,init", [("sigmoid", "xavier"), ("tanh", "xavier"),
                                             ("relu", "he"), ("leaky_relu", "he")])
def test_auto_init_suits_the_activation(activation, init):
    """He N(0, 2/fan_in) for the ReLUs, Xavier U(+-sqrt(6/(fan_in+fan_out))) for the saturating
    ones; the output layer is Xavier whatever the hidden activation."""
    cfg = compose_config(["experiment=mlp", f"model.activation={activation}"])
    assert (cfg.model.name, list(cfg.model.hidden), cfg.model.init) == ("mlp", [512, 256], "auto")
    model = build(cfg.model)(in_features=784, out_features=10, rng=np.random.default_rng(0))
    shapes = [(784, 512), (512, 256), (256, 10)]
    weights = [p for name, p in model.params.items() if name.endswith(".W")]
    assert [w.shape for w in weights] == shapes
    for i, (w, (fan_in, fan_out)) in enumerate(zip(weights, shapes, strict=True)):
        bound = np.sqrt(6 / (fan_in + fan_out))
        if init == "he" and i < 2:
            assert w.std() == pytest.approx(np.sqrt(2 / fan_in), rel=0.02)
            assert np.abs(w).max() > bound  # a normal's tails, not a uniform
        else:
            assert np.abs(w).max() <= bound and w.std() == pytest.approx(bound / np.sqrt(3),
                                                                         rel=0.02)


def test_the_study_step_runs_and_draws_one_figure(dlproj_run, tmp_path):
    """The study's step on a few MNIST images: every activation learns, the figure has them all."""
    run = dlproj_run(["-m", "section=1", "experiment=mlp",
                      f"model.activation={','.join(ACTIVATIONS)}", "seed=0,1",
                      "data.train_limit=1000", "data.val_size=200", "data.test_limit=200",
                      "train.epochs=2", "figures=false"], timeout=600)  # the test draws its own
    assert run.proc.returncode == 0, run.output  # a sweep whose jobs all completed exits 0
    assert f"sweep: 6 completed -> {run.run_dirs[0].parent}" in run.proc.stderr.splitlines()
    records = [run.results(d) for d in run.run_dirs]
    assert sorted(r["config"]["model"]["activation"] for r in records) == sorted(ACTIVATIONS * 2)
    for r in records:
        assert r["status"] == "completed"
        model = r["config"]["model"]
        assert model["hidden"] == [512, 256] and model["init"] == "auto"
        assert r["metrics"]["val_acc"] > 0.5, r["config"]["model"]["activation"]  # chance: 0.1
    runs, problems = read_runs(run.run_dirs)
    spec = next(s for s in studies.figures() if s.name == "activation_study")
    fig = draw(spec, runs, problems)
    assert not problems
    # The report's order: settings sorted by their values.
    assert [t.get_text() for t in fig.axes[2].get_xticklabels()] == sorted(ACTIVATIONS)
    assert fig.legends[0].get_title().get_text() == "activation"
    fig.savefig(tmp_path / "activation_study.png", dpi=150)
    assert (tmp_path / "activation_study.png").stat().st_size > 20_000
