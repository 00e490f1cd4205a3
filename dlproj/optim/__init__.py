"""Optimizers and learning-rate schedules written from scratch in NumPy."""
