"""Numbers and tables as dlproj writes them (the report, the claims, docs/results.md)."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd


def fmt(x: Any) -> str:
    """Accuracies to 4 decimals, small errors in scientific notation."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    if not math.isfinite(x):
        return str(x)
    if x != 0 and (abs(x) < 1e-3 or abs(x) >= 1e5):
        return f"{x:.2e}"
    return f"{x:.1f}" if abs(x) >= 100 else f"{x:.4f}"


def fmt_stat(mean: float, std: float) -> str:
    return fmt(mean) if pd.isna(std) else f"{fmt(mean)} ± {fmt(std)}"


def md_table(frame: pd.DataFrame, *, as_written: bool = False) -> str:
    """A non-empty frame (callers word their own "none") as a Markdown table; `as_written` keeps
    number-like cells as written ("+0.0500"), not as tabulate would print the number."""
    clean = frame.astype(str).apply(lambda c: c.str.replace("|", "\\|").str.replace("\n", " "))
    return clean.to_markdown(index=False, disable_numparse=as_written) + "\n"
