"""Data parallelism inside one training step: the batch split across threads, and into passes.

One step of mini-batch training is

    out = model.forward(x, train=True); loss = loss_fn.forward(out, y)
    model.backward(loss_fn.backward())

and `forward_backward(model, loss_fn, x, y)` does exactly that, leaving the gradients in
`model.grads`. With W workers it cuts the batch into W contiguous slices of n_1 .. n_W rows
(N in all). Worker i runs forward and backward on its slice with a replica of the model: the same
parameter arrays, its own gradients and caches (`replica()` of the layers). The loss is a mean
over rows, L = sum_i (n_i / N) L_i, so its gradient is sum_i (n_i / N) dL_i: each worker scales
its slice's dL/d(out) by n_i / N before back-propagating, and the step adds the workers'
gradients into the model's own, in a fixed order. The result equals the serial step's up to
float32 round-off (the products and sums are grouped differently).

NumPy releases the GIL inside its heavy loops (GEMMs, ufuncs, copies), so the threads run on
separate cores; each should use one BLAS thread (dlproj.runtime.threads sets that). Worker 0 is
the calling thread with the model itself; the others from the process's pool (dlproj/pool.py).

A training run asks every slice to have at least MIN_ROWS rows (`min_rows`): below that the
hand-off costs more than the slice's arithmetic (XOR's batch of 4 ran 2x slower split in two), so
a small batch is stepped serially.

Each worker goes through its slice in passes of at most `rows_per_pass` rows, one after another,
adding up the passes' gradients in order (the same sum as across workers): a pass whose layer
outputs fit in about PASS_BYTES keeps its activations in the cache from forward to backward,
where a whole batch of images goes out to memory and back. The wide CNN's step (32 and 64
channels, 64 images) took 14.4 ms in passes of 8 rows against 18.2 ms in one. A model whose
rows are small (the MLPs, whose products lose more on fewer rows than they gain) is stepped in one
pass, the very computation of the three lines above.
"""

from __future__ import annotations

import copy
import weakref
from functools import lru_cache, partial
from typing import Any

import numpy as np

from dlproj.pool import on_threads

MIN_ROWS = 8  # fewest rows per worker a training run asks for
# Layer outputs per pass: passes of 8 rows for the wide CNN (354 KB of outputs a row) and of 34
# for the small one (91 KB) measured fastest here (docs/section3.md, "Speed").
PASS_BYTES = 3 << 20
# model -> its replicas for workers 1, 2, ... (made once, reused every step)
_replicas: weakref.WeakKeyDictionary[Any, list[Any]] = weakref.WeakKeyDictionary()
# model -> {(row shape, dtype): bytes of layer outputs per row}
_row_bytes: weakref.WeakKeyDictionary[Any, dict[tuple, int]] = weakref.WeakKeyDictionary()


def _replicas_of(model: Any, n: int) -> list[Any]:
    """`model` followed by n - 1 replicas sharing its parameters."""
    twins = _replicas.setdefault(model, [])
    while len(twins) < n - 1:
        twins.append(model.replica())
    return [model, *twins[:n - 1]]


def output_bytes_per_row(model: Any, x: np.ndarray) -> int:
    """Bytes of the outputs of a layered model's (`model.layers`, as Sequential's) layers for one
    row of `x`, from a forward pass of its first row that keeps nothing for training; 0 for a
    model without layers (or no rows to count on). Counted once per model and row shape."""
    per_shape = _row_bytes.setdefault(model, {})
    key = (x.shape[1:], x.dtype.str)
    if not len(x):
        return per_shape.get(key, 0)
    if key not in per_shape:
        total, h = 0, x[:1]
        for _, layer in getattr(model, "layers", ()):
            h = layer.forward(h, train=False)
            total += h.nbytes
        per_shape[key] = total
    return per_shape[key]


def rows_per_pass(model: Any, x: np.ndarray) -> int:
    """The most rows of `x` a forward and backward pass takes: as many as PASS_BYTES of layer
    outputs hold, all of them for a model without layers."""
    per_row = output_bytes_per_row(model, x)
    return max(1, PASS_BYTES // per_row) if per_row else max(len(x), 1)


@lru_cache(maxsize=1024)
def _cuts(lo: int, hi: int, pieces: int) -> tuple[int, ...]:
    """`pieces` + 1 bounds cutting rows lo .. hi into pieces of (nearly) equal size (worked out
    once per triple: NumPy's linspace takes some 8 us, a training step asks for up to 1 + W)."""
    return tuple(np.linspace(lo, hi, pieces + 1).round().astype(int).tolist())


def forward_backward(model: Any, loss_fn: Any, x: np.ndarray, y: np.ndarray, *,
                     workers: int = 1, min_rows: int = 1) -> float:
    """Forward, loss and backward of one batch; gradients in `model.grads`; returns the loss.

    Up to `workers` threads, as many as give every slice `min_rows` rows; each slice in passes of
    at most `rows_per_pass` rows. The loss must be a mean over the batch's rows
    (SoftmaxCrossEntropy, MSELoss).
    """
    n = len(x)
    w = min(workers, max(n // min_rows, 1))
    rows = rows_per_pass(model, x)
    if w <= 1 and rows >= n:
        loss = loss_fn.forward(model.forward(x, train=True), y)
        model.backward(loss_fn.backward())
        return loss

    bounds = _cuts(0, n, w)
    nets = _replicas_of(model, w)
    losses = [loss_fn] + [copy.copy(loss_fn) for _ in range(w - 1)]

    def part(i: int) -> float:
        lo, hi = bounds[i], bounds[i + 1]
        cuts = _cuts(lo, hi, -(-(hi - lo) // rows))
        net, crit = nets[i], losses[i]
        values, summed = [], None
        for a, b in zip(cuts[:-1], cuts[1:], strict=True):
            share = (b - a) / n
            values.append(crit.forward(net.forward(x[a:b], train=True), y[a:b]) * share)
            dout = crit.backward()
            net.backward(dout * dout.dtype.type(share))
            if len(cuts) > 2:  # more passes: their sum, outside the arrays the next one writes
                if summed is None:
                    summed = {name: g.copy() for name, g in net.grads.items()}
                else:
                    for name, g in net.grads.items():
                        summed[name] += g
        if summed is not None:  # the sum where the gradients are read: the layers' own arrays
            for name, g in net.grads.items():
                np.copyto(g, summed[name])
        return values[0] + sum(values[1:])

    values = on_threads([partial(part, i) for i in range(w)])
    total = values[0] + sum(values[1:])
    grads = model.grads
    for net in nets[1:]:
        for name, g in net.grads.items():
            grads[name] += g
    return total
