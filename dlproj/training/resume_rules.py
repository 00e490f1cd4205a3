"""What may change when a run continues from its checkpoint (`resume=RUN_DIR`), and how the
checkpoint's config is held against the run's config now.

Only how far to train (train.epochs, early stopping's patience: never lower while it is on) and
knobs that do not change what is computed may differ (RESUME_MAY_CHANGE); anything else would
make the resumed run another run.
"""

from __future__ import annotations

from typing import Any

from dlproj.training.divergence import FACTOR

# A key added to the config since runs were recorded -> the value those runs computed with (only
# another value makes a run differ from them): a checkpoint without it resumes, and the setting
# (dlproj.config.setting) leaves it out of older runs' ids alike.
ADDED: dict[str, Any] = {"train.precision": "32", "train.divergence_factor": FACTOR}

RESUME_MAY_CHANGE = ("train.epochs", "train.early_stopping.patience", "train.log_every",
                     "train.checkpoint_",
                     "threads.", "data.root", "data.download", "logger", "resume",
                     "hydra.")


def may_change(key: str) -> bool:
    return key.startswith(RESUME_MAY_CHANGE)


def changed_keys(saved: Any, now: Any, prefix: str = "") -> list[str]:
    """'key: old -> new' for every dotted key of `now` whose value differs from `saved`.

    Left out: RESUME_MAY_CHANGE, Hydra's instantiation keys (`_target_`, `_partial_`: how an
    object is built, never what it computes), keys only `saved` has (a schema that has lost
    a key since the checkpoint was written: nothing reads it any more) and keys only `now` has
    at the value the setting takes runs recorded before them to have computed with (ADDED: a
    schema that has gained a key since)."""
    if isinstance(saved, dict) and isinstance(now, dict):
        out = []
        for key in sorted(now):
            dotted = f"{prefix}{key}"
            if key not in saved and dotted in ADDED and now[key] == ADDED[dotted]:
                continue
            if not may_change(dotted) and not str(key).startswith("_"):
                out += changed_keys(saved.get(key), now[key], f"{dotted}.")
        return out
    return [] if saved == now else [f"{prefix.rstrip('.')}: {saved!r} -> {now!r}"]
