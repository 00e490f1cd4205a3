"""One module per section; each function here is a registered experiment (dlproj/registry.py)."""
