"""The PyTorch side of the training loop (Section 4): autograd for the gradients, an explicit
update rule (dlproj.torchnets.optim) for the step.

No trainer: every step is forward, cross-entropy, backward, then our own update; `TorchStack`
plugs it into the one epoch loop (dlproj.training.loop.fit), which writes the same metrics.csv,
checkpoints and interrupt records as the NumPy sections.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dlproj.errors import ConfigError, DataError
from dlproj.files.atomic import atomic_write
from dlproj.training import loop
from dlproj.training.context import RunContext
from dlproj.training.precision import Precision


def resolve_device(name: str) -> torch.device:
    """device=auto -> cuda when available, else cpu; device=cuda without a GPU is a ConfigError."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("Invalid value for 'device': 'cuda', but torch sees no CUDA device "
                          "here. Allowed: auto (cuda when available), cpu.")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy's global RNG and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@torch.no_grad()
def evaluate(model: nn.Module, batches: Iterable, device: torch.device, prefix: str,
             layout: torch.memory_format = torch.contiguous_format,
             precision: Precision | None = None) -> dict[str, float]:
    """Mean cross-entropy and accuracy over `batches` (images in the model's memory `layout`),
    in eval mode, the forward pass in the training's `precision`."""
    was_training = model.training
    model.eval()
    total, correct, n = 0.0, 0, 0
    precision = precision or Precision("32", device)
    for x, y in batches:
        x, y = x.to(device, memory_format=layout), y.to(device)
        with precision.autocast():
            logits = model(x)
        total += F.cross_entropy(logits.float(), y, reduction="sum").item()
        correct += (logits.argmax(1) == y).sum().item()
        n += len(y)
    model.train(was_training)
    return {f"{prefix}_loss": total / max(n, 1), f"{prefix}_acc": correct / max(n, 1)}


def set_train_mode(model: nn.Module, frozen: Sequence[nn.Module]) -> None:
    """Train mode, except frozen modules: their batch-norm statistics must not move."""
    model.train()
    for m in frozen:
        m.eval()


@dataclass
class TorchStack:
    """Batches from `train`; forward, cross-entropy, backward, then the explicit update."""

    model: nn.Module
    train: Any  # iterable of (x, y) with len(); reshuffled by its own torch.Generator
    optimizer: Any  # zero_grad(), step(), lr, state (a list of dicts of tensors), t
    evaluate_fn: loop.Evaluation
    device: torch.device
    frozen: Sequence[nn.Module] = ()
    layout: torch.memory_format = torch.contiguous_format  # of the images, as the model's
    precision: Precision | None = None  # None: float32
    suffix: str = ".pt"

    def __post_init__(self) -> None:
        self.precision = self.precision or Precision("32", self.device)

    def steps_per_epoch(self) -> int:
        return len(self.train)

    def batches(self) -> Iterable[Any]:
        set_train_mode(self.model, self.frozen)
        return self.train

    def set_lr(self, lr: float) -> None:
        self.optimizer.lr = lr

    def train_step(self, batch: Any) -> loop.StepResult:
        x, y = batch
        x = x.to(self.device, non_blocking=True, memory_format=self.layout)
        y = y.to(self.device, non_blocking=True)
        with self.precision.autocast():
            logits = self.model(x)
            loss = F.cross_entropy(logits, y)
        self.optimizer.zero_grad()
        if self.precision.backward(loss, self.optimizer.params):
            self.optimizer.step()
        correct = int((logits.detach().argmax(1) == y).sum().item())
        return loop.StepResult(loss.item(), len(y), correct)

    def evaluate(self) -> dict[str, float]:
        return self.evaluate_fn()

    def columns(self) -> tuple[str, ...]:
        return ("train_acc", *self.evaluate_fn.columns)  # train_step counts the right answers

    # -- state: weights and buffers, optimizer moments, every RNG the run draws from ------------
    def _generator(self) -> torch.Generator | None:
        gen = getattr(self.train, "generator", None)
        return gen if isinstance(gen, torch.Generator) else None

    def snapshot(self) -> dict[str, Any]:
        gen = self._generator()
        return {
            "model": {k: v.detach().clone().cpu() for k, v in self.model.state_dict().items()},
            "optimizer": [{k: v.detach().clone().cpu() for k, v in s.items()}
                          for s in self.optimizer.state],
            "rng": {"torch": torch.get_rng_state(),
                    "data": gen.get_state() if gen is not None else None,
                    "numpy": json.dumps(_numpy_state()), "python": json.dumps(random.getstate())},
            "optimizer_t": self.optimizer.t,
            **({"loss_scale": self.precision.scaler.state()} if self.precision.scaler else {}),
        }

    def restore(self, snap: dict[str, Any]) -> None:
        self.model.load_state_dict(snap["model"])
        self.optimizer.state = [{k: v.to(self.device) for k, v in s.items()}
                                for s in snap["optimizer"]]
        self.optimizer.t = int(snap["optimizer_t"])
        if self.precision.scaler is not None and "loss_scale" in snap:
            self.precision.scaler.load(snap["loss_scale"])
        rng = snap["rng"]
        torch.set_rng_state(rng["torch"])
        gen = self._generator()
        if gen is not None and rng["data"] is not None:
            gen.set_state(rng["data"])
        _set_numpy_state(json.loads(rng["numpy"]))
        random.setstate(_tuples(json.loads(rng["python"])))

    def write(self, path: Path, snap: dict[str, Any], meta: dict[str, Any], *,
              durable: bool) -> None:
        payload = {**snap, "meta": json.dumps(meta)}
        atomic_write(path, lambda fh: torch.save(payload, fh), durable=durable)

    def read(self, path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
            meta = json.loads(payload.pop("meta"))
        except Exception as exc:  # zip, pickle and key errors alike mean "not our checkpoint"
            raise DataError(f"Cannot read the checkpoint {path} ({type(exc).__name__}). It is "
                            f"not a last.pt written by a Section 4 run of dlproj, or it was cut "
                            f"short; start the run again without resume=.") from None
        return payload, meta

    def write_weights(self, path: Path) -> None:
        state = {k: v.detach().cpu() for k, v in self.model.state_dict().items()}
        atomic_write(path, lambda fh: torch.save(state, fh))


def _numpy_state() -> list[Any]:
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return [kind, keys.tolist(), pos, has_gauss, cached]


def _set_numpy_state(state: list[Any]) -> None:
    kind, keys, pos, has_gauss, cached = state
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))


def _tuples(value: Any) -> Any:
    """JSON lists back into the nested tuples random.setstate wants."""
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def fit(ctx: RunContext, model: nn.Module, train: Iterable, optimizer: Any,
        evaluate_fn: loop.Evaluation, *, device: torch.device,
        frozen: Sequence[nn.Module] = (), on_step: loop.StepHook | None = None,
        layout: torch.memory_format = torch.contiguous_format,
        precision: Precision | None = None) -> dict[str, Any]:
    """Train with the one epoch loop; returns the last metrics row.

    `on_step(step, epoch)` runs after each update (gradients still in `.grad`); `layout` is the
    memory format of the model's weights, which the images are given too; `precision` the
    autocast of the forward pass (None: float32)."""
    stack = TorchStack(model, train, optimizer, evaluate_fn, device, frozen, layout, precision)
    return loop.fit(ctx, stack, on_step=on_step)
