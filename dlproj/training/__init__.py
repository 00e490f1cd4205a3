"""The one training loop (loop.py) and what plugs into it: the NumPy stack (sections 1-3, its step
split across threads by parallel.py), the torch stack (Section 4), and RunContext, the run as an
experiment and the loop see it."""
