"""One module per section; each function here is a registered experiment (see registry.py)."""
