"""Figures a run draws (matplotlib, file output only)."""

import matplotlib

matplotlib.use("Agg")
