"""NumPy model checkpoints: parameters in an `.npz`, written atomically, read without pickle,
beside the network's layout (`LAYOUT`: each layer's name and class), which the parameters alone
do not show: a CNN trained with average pooling has the shapes of one with max pooling, an MLP of
tanh those of one of ReLU, and was evaluated as the other without a word. A file without it (one
written before it was kept, or the training loop's best.npz) is read by its shapes alone."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from dlproj.errors import DataError, shape_mismatch
from dlproj.files.atomic import save_npz
from dlproj.paths import missing

LAYOUT = "__layout__"  # the .npz entry holding layout(model), as JSON text


def layout(model: Any) -> list[str]:
    """The network's layers as "name: Class" (a Sequential), else its class and activation."""
    if hasattr(model, "layers"):
        return [f"{name}: {type(layer).__name__}" for name, layer in model.layers]
    return [f"{type(model).__name__}: {getattr(model, 'activation', '')}"]


def _name(entry: str) -> str:
    return entry.split(": ")[0]


def save_checkpoint(path: str | Path, model: Any) -> Path:
    return save_npz(path, {**{k: np.asarray(v) for k, v in model.params.items()},
                           LAYOUT: np.array(json.dumps(layout(model)))})


FIX = ("Pass `checkpoint=` the model.npz that a run of the same experiment and model config "
       "(and pooling) wrote in its run directory.")


def load_checkpoint(path: str | Path, model: Any, *, given: str | None = None) -> Any:
    """Fill `model`'s parameters from `path` (arrays only: nothing in the file is executed);
    a missing, unreadable or mismatched file is a DataError in dlproj's words. `given`: the
    `checkpoint=` that `path` was resolved from, which a missing file's message shows too."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"Checkpoint {missing(path, given, 'checkpoint=')}. {FIX}")
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise DataError(f"Checkpoint {path} is a single .npy array, not a .npz archive of "
                            f"named parameters. {FIX}")
        with loaded as npz:
            arrays = {k: npz[k] for k in npz.files}
    except DataError:
        raise
    except ValueError as exc:
        if "Object arrays" in str(exc):
            raise DataError(f"Checkpoint {path} holds Python objects, not plain arrays; dlproj "
                            f"reads parameters only and never unpickles a file. {FIX}") from None
        raise DataError(f"Checkpoint {path} is not a readable .npz archive (reading it would "
                        f"mean unpickling it, which dlproj never does). {FIX}") from None
    except Exception as exc:  # empty (EOFError), truncated (BadZipFile), another format, ...
        raise DataError(f"Checkpoint {path} is not a readable .npz archive: it is empty, "
                        f"truncated or another format ({type(exc).__name__}). {FIX}") from None
    saved = arrays.pop(LAYOUT, None)  # none in a checkpoint written before it was kept
    if not arrays:
        raise DataError(f"Checkpoint {path} holds no arrays. {FIX}")
    detail = shape_mismatch({k: tuple(v.shape) for k, v in model.params.items()},
                      {k: tuple(v.shape) for k, v in arrays.items()})
    if detail:
        raise DataError(f"Checkpoint {path} does not fit this model ({detail}). {FIX}")
    if saved is not None and saved.shape == () and saved.dtype.kind == "U":
        mine, theirs = layout(model), json.loads(str(saved))
        differ = [f"{b} there, {a.split(': ')[-1] if _name(a) == _name(b) else a} here"
                  for a, b in zip(mine, theirs, strict=False) if a != b]
        if differ or len(mine) != len(theirs):
            differ = differ or [f"{len(theirs)} layers there, {len(mine)} here"]
            raise DataError(f"Checkpoint {path} was written by a network of other layers than "
                            f"this config builds ({'; '.join(differ[:4])}). {FIX}")
    model.set_params(arrays)
    return model
