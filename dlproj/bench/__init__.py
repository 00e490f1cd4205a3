"""`make bench`: the Section 3 CNN in dlproj NumPy code and in PyTorch (CPU), side by side."""
