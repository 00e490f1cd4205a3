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


def numeric(row: dict[str, Any], *,
            skip: tuple[str, ...] = ("epoch",)) -> Iterator[tuple[str, float]]:
    """The numbers of a row as floats (bools, strings and `skip` left out; NaN kept)."""
    for key, value in row.items():
        if key in skip or isinstance(value, bool):
            continue
        if isinstance(value, (int, float, np.integer, np.floating)):
            yield key, float(value)


def figures(run_dir: Path) -> list[Path]:
    return sorted(Path(run_dir).glob("*.png"))
