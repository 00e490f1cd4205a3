"""dlproj: deep learning seen working, from NumPy scratch to PyTorch, from one Hydra entry point."""

__version__ = "0.1.0"
