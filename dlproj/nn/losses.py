"""Losses: softmax cross-entropy (through log-sum-exp) and mean squared error."""

from __future__ import annotations

import numpy as np


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """log p = z - max(z) - log(sum(exp(z - max(z)))), row-wise; no exp of a large number."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def softmax(logits: np.ndarray) -> np.ndarray:
    return np.exp(log_softmax(logits))


class SoftmaxCrossEntropy:
    """L = -(1/N) sum_n log softmax(z_n)[y_n];  dL/dz = (softmax(z) - onehot(y)) / N.

    logits : (N, C); labels : (N,) integer classes.
    """

    def forward(self, logits: np.ndarray, labels: np.ndarray) -> float:
        logp = log_softmax(logits)
        self._probs = np.exp(logp)
        self._labels = labels
        return float(-logp[np.arange(len(labels)), labels].mean())

    def backward(self) -> np.ndarray:
        n = len(self._labels)
        grad = self._probs.copy()
        grad[np.arange(n), self._labels] -= 1.0
        return grad / n


class MSELoss:
    """L = mean((y_hat - y)^2) over all entries;  dL/dy_hat = 2 (y_hat - y) / size."""

    def forward(self, pred: np.ndarray, target: np.ndarray) -> float:
        self._diff = pred - target
        return float(np.mean(self._diff**2))

    def backward(self) -> np.ndarray:
        return 2.0 * self._diff / self._diff.size
