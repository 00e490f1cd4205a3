"""What the tracker loggers share: the flattened config, numeric values, the run's figures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf


def flat_config(cfg: DictConfig) -> dict[str, Any]:
    """The resolved config as dotted keys -> scalars (lists, None as strings), less `logger`."""
    tree = OmegaConf.to_container(cfg, resolve=True)
    out: dict[str, Any] = {}

    def walk(prefix: str, node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(f"{prefix}{key}.", value)
        else:
            out[prefix[:-1]] = node if isinstance(node, (bool, int, float, str)) else str(node)

    walk("", {key: node for key, node in tree.items() if key not in ("logger", "hydra")})
    return out


def is_label(key: str) -> bool:
    """A class label, not a quantity (`most_confused_true`): a param or tag, never a metric."""
    return key.endswith(("_true", "_pred"))


def run_name(ctx: Any) -> str:
    """A tracker's name for the run: its setting's label and seed (`optimizer=adam seed=0`)."""
    return f"{ctx.label or 'defaults'} seed={ctx.cfg.seed}"


def numeric(row: dict[str, Any], *,
            skip: tuple[str, ...] = ("epoch",)) -> Iterator[tuple[str, float]]:
    """The numbers of a row as floats (bools, strings, labels and `skip` left out; NaN kept)."""
    for key, value in row.items():
        if key in skip or isinstance(value, bool) or is_label(key):
            continue
        if isinstance(value, (int, float, np.integer, np.floating)):
            yield key, float(value)


def figures(run_dir: Path) -> list[Path]:
    return sorted(Path(run_dir).glob("*.png"))
