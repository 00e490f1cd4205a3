"""Training loops for the NumPy models: explicit forward, backward and optimizer step."""
