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


def md_table(frame: pd.DataFrame) -> str:
    """A non-empty frame (callers word their own "none") as a Markdown table, every cell as
    written (`fmt`'s "1.0000", "+0.0500"): tabulate would print a column of numbers its own way
    ("1", "0.76"), unlike the same value in another table or in LaTeX."""
    clean = frame.astype(str).apply(lambda c: c.str.replace("|", "\\|").str.replace("\n", " "))
    numbers = [bool(len(c)) and pd.to_numeric(c, errors="coerce").notna().all()
               for _, c in clean.items()]  # right-aligned, as tabulate sets numbers
    return clean.to_markdown(index=False, disable_numparse=True,
                             colalign=["right" if n else "left" for n in numbers]) + "\n"
