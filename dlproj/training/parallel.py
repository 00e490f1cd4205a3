"""Data parallelism inside one training step: the batch split across threads.

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
"""

from __future__ import annotations

import copy
import weakref
from functools import partial
from typing import Any

import numpy as np

from dlproj.pool import on_threads

MIN_ROWS = 8  # fewest rows per worker a training run asks for
# model -> its replicas for workers 1, 2, ... (made once, reused every step)
_replicas: weakref.WeakKeyDictionary[Any, list[Any]] = weakref.WeakKeyDictionary()


def _replicas_of(model: Any, n: int) -> list[Any]:
    """`model` followed by n - 1 replicas sharing its parameters."""
    twins = _replicas.setdefault(model, [])
    while len(twins) < n - 1:
        twins.append(model.replica())
    return [model, *twins[:n - 1]]


def forward_backward(model: Any, loss_fn: Any, x: np.ndarray, y: np.ndarray, *,
                     workers: int = 1, min_rows: int = 1) -> float:
    """Forward, loss and backward of one batch; gradients in `model.grads`; returns the loss.

    Up to `workers` threads, as many as give every slice `min_rows` rows. The loss must be a mean
    over the batch's rows (SoftmaxCrossEntropy, MSELoss).
    """
    n = len(x)
    w = min(workers, max(n // min_rows, 1))
    if w <= 1:
        loss = loss_fn.forward(model.forward(x, train=True), y)
        model.backward(loss_fn.backward())
        return loss

    bounds = np.linspace(0, n, w + 1).round().astype(int)
    nets = _replicas_of(model, w)
    losses = [loss_fn] + [copy.copy(loss_fn) for _ in range(w - 1)]

    def part(i: int) -> float:
        lo, hi = bounds[i], bounds[i + 1]
        share = (hi - lo) / n
        net, crit = nets[i], losses[i]
        value = crit.forward(net.forward(x[lo:hi], train=True), y[lo:hi])
        dout = crit.backward()
        net.backward(dout * dout.dtype.type(share))
        return value * share

    values = on_threads([partial(part, i) for i in range(w)])
    total = values[0] + sum(values[1:])
    grads = model.grads
    for net in nets[1:]:
        for name, g in net.grads.items():
            grads[name] += g
    return total
