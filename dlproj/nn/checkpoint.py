"""NumPy model checkpoints: parameters in an `.npz`, written atomically, read without pickle."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from dlproj.errors import DataError
from dlproj.runtime.atomic import save_npz


def save_checkpoint(path: str | Path, model: Any) -> Path:
    return save_npz(path, {k: np.asarray(v) for k, v in model.params.items()})


def load_checkpoint(path: str | Path, model: Any) -> Any:
    """Fill `model`'s parameters from `path`; a missing or mismatched file is a DataError."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            model.set_params({k: npz[k] for k in npz.files})
    except (OSError, ValueError, KeyError) as exc:
        raise DataError(f"Cannot load checkpoint {path}: {exc}. Pass `checkpoint=` the "
                        f"model.npz of a run of the same model config.") from exc
    return model
