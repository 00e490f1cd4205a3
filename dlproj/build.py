"""Config -> object: `build(node)` is `hydra.utils.instantiate` of a config group's node less its
`name` (the choice it was made from, not an argument); the code that knows the run-time arguments
supplies them: `build(cfg.model)(in_features=784, out_features=10, rng=ctx.rng)`.

`skip` leaves out further keys that another part of the run reads (Section 4's `model.weights`
and `model.finetune`); `overrides` replace node values (`_target_=...` included).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf


def build(node: DictConfig, *, skip: Iterable[str] = (), **overrides: Any) -> Callable[..., Any]:
    """The node's `_target_` with its arguments bound (plain Python values, not config nodes)."""
    left_out = {"name", *skip}
    args = OmegaConf.masked_copy(node, [k for k in node if k not in left_out])
    return instantiate(args, _convert_="all", **overrides)
