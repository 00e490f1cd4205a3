"""What runs: one module per section, each function a registered experiment (registry.py), with
what the experiments share (common.py) and what a run holds in memory (footprint.py)."""
