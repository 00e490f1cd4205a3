"""Section 3: a NumPy CNN on MNIST — max vs average pooling, receptive fields, filters,
feature maps and the confusion matrix."""

from __future__ import annotations

from typing import Any

import numpy as np

from dlproj import plots
from dlproj.build import build
from dlproj.data.mnist import SIDE
from dlproj.errors import DataError
from dlproj.experiments import footprint
from dlproj.experiments.common import (
    evaluate_checkpoint,
    figure,
    mnist,
    mnist_arrays,
    predict,
    val_test_evaluator,
)
from dlproj.experiments.footprint import DataSize
from dlproj.experiments.registry import TRAINING, register
from dlproj.nn.checkpoint import save_checkpoint
from dlproj.nn.cnn import activations, build_cnn, feature_map_layers
from dlproj.nn.losses import SoftmaxCrossEntropy
from dlproj.nn.receptive_field import measure
from dlproj.training.context import RunContext
from dlproj.training.numpy_stack import fit

# The layers the receptive-field figure shows (each unit's field is the same before and after ReLU).
RF_LAYERS = ("conv1", "pool1", "conv2", "pool2")


def _model(ctx: RunContext):
    return build(ctx.cfg.model)(rng=ctx.rng, pooling=build(ctx.cfg.pooling))


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, k: int = 10) -> np.ndarray:
    """counts[true, predicted]."""
    return np.bincount(labels * k + predicted, minlength=k * k).reshape(k, k)


def _matrix_csv(mat: np.ndarray, fmt: str) -> str:
    k = len(mat)
    lines = ["true\\predicted," + ",".join(str(j) for j in range(k))]
    lines += [f"{i}," + ",".join(format(v, fmt) for v in mat[i]) for i in range(k)]
    return "\n".join(lines) + "\n"


@register(3, "cnn", models=(build_cnn,), checkpoint=".npz", reads=(*TRAINING, "pooling", "data"),
          evaluates=("pooling", "data"), data=footprint.mnist)
def cnn(ctx: RunContext) -> dict[str, Any]:
    """The study's CNN on MNIST (NumPy): curves, confusion matrix, filters, feature maps."""
    cfg = ctx.cfg
    model = _model(ctx)
    splits = mnist(cfg.data)
    train, val, test = mnist_arrays(splits, flatten=False)
    evaluate = val_test_evaluator(model, val, test)
    title = f"{cfg.model.name}, {cfg.pooling.name} pooling"
    if cfg.checkpoint:
        final = evaluate_checkpoint(ctx, model, evaluate)
    else:
        ctx.log.info("MNIST: %d train, %d val, %d test; %s, %d parameters", len(train),
                     len(val), len(test), title, sum(p.size for p in model.params.values()))
        final = fit(ctx, model, SoftmaxCrossEntropy(), build(cfg.optimizer)(), train, evaluate)
        save_checkpoint(ctx.path("model.npz"), model)
        figure(ctx, "curves.png", lambda: plots.curves.learning_curves(
            ctx.metrics.rows, f"NumPy CNN on MNIST ({title})"))

    predicted = predict(model, test.x).argmax(axis=1)
    counts = confusion_matrix(test.y, predicted)
    ctx.write_text("confusion_counts.csv", _matrix_csv(counts, "d"))
    norm = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    ctx.write_text("confusion_normalized.csv", _matrix_csv(norm, ".4f"))
    figure(ctx, "confusion_matrix.png", lambda: plots.cnn.confusion_matrix_figure(
        counts, f"test confusion matrix, {title}: accuracy {np.trace(counts) / counts.sum():.4f}"))
    off = counts - np.diag(np.diag(counts))
    worst = np.unravel_index(off.argmax(), off.shape)
    ctx.log.info("most frequent confusion: true %d predicted as %d (%d times)",
                 worst[0], worst[1], off[worst])

    conv1 = dict(model.layers)["conv1"]
    figure(ctx, "filters_conv1.png", lambda: plots.cnn.filters_figure(
        conv1.params["W"], f"conv1 filters ({title})"))
    picks = _one_per_class(test.y, 4)
    # Drawn after ReLU, as the course report shows them; the npz keeps the pre-ReLU conv
    # outputs (conv1, conv2) beside them.
    shown = feature_map_layers(model)
    convs = [name for name, _ in model.layers if name.startswith("conv")]
    maps = activations(model, test.x[picks], [*convs, *shown])
    ctx.save_npz("feature_maps.npz", {"images": splits.test.images[picks],
                                      "labels": test.y[picks], **maps})
    figure(ctx, "feature_maps.png", lambda: plots.cnn.feature_maps_figure(
        splits.test.images[picks], {title: maps[name] for name, title in shown.items()},
        test.y[picks].tolist()))
    return {**final, "most_confused_true": int(worst[0]), "most_confused_pred": int(worst[1])}


def _one_per_class(labels: np.ndarray, n: int) -> np.ndarray:
    """Indices of the first test image of each of the first `n` classes present."""
    picks = []
    for c in np.unique(labels)[:n]:
        picks.append(int(np.flatnonzero(labels == c)[0]))
    return np.array(picks)


# It builds the CNN (with its pooling) and trains nothing: no optimizer or schedule is read.
@register(3, "receptive_field", models=(build_cnn,), reads=("pooling",),
          data=lambda cfg: DataSize(1, 784, 10, raw_bytes=0))
def receptive_field(ctx: RunContext) -> dict[str, Any]:
    """Receptive field and effective stride of every layer: arithmetic, checked by backprop."""
    model = _model(ctx)
    rows, maps = measure(model, SIDE)
    header = (f"{'layer':<8}{'out':>4}{'RF':>5}{'stride':>7}   "
              f"{'measured RF':>11}{'stride':>7}  match")
    lines = [header]
    for r in rows:
        if r.unit < 0:  # no two neighbouring units' fields lie inside the image (measure)
            lines.append(f"{r.layer:<8}{r.out_size:>4}{r.rf:>5}{r.stride:>7}   "
                         f"{'-':>11}{'-':>7}  not measured (no two neighbouring fields fit in "
                         f"{SIDE} px)")
            continue
        lines.append(f"{r.layer:<8}{r.out_size:>4}{r.rf:>5}{r.stride:>7}   "
                     f"{f'{r.measured_h}x{r.measured_w}':>11}{r.measured_stride:>7}  "
                     f"{'yes' if r.matches else 'NO'}")
    table = "\n".join(lines)
    ctx.log.info("receptive fields (%s):\n%s", ctx.cfg.model.name, table)
    ctx.write_json("receptive_fields.json", [r.as_dict() for r in rows])
    ctx.write_text("receptive_fields.csv",
                   ",".join(rows[0].as_dict()) + "\n"
                   + "".join(",".join(str(v) for v in r.as_dict().values()) + "\n"
                             for r in rows))
    shown = {k: v for k, v in maps.items() if k in RF_LAYERS} or maps
    digit = None
    try:
        digit = mnist(ctx.cfg.data).test.images[0]
    except DataError as exc:  # the figure is fine without a digit behind it
        ctx.log.info("no MNIST digit for the figure background: %s", exc)
    figure(ctx, "receptive_field.png", lambda: plots.cnn.receptive_field_figure(rows, shown, digit))
    last = [r for r in rows if r.unit >= 0][-1]
    return {"layer": last.layer, "rf": last.rf, "stride": last.stride,
            "measured_rf": last.measured_h, "measured_stride": last.measured_stride,
            "all_match": all(r.matches for r in rows if r.unit >= 0)}
