"""Section 4's PyTorch pieces: plain/residual CNNs and ResNet18 transfer (models), image data
(data), the explicit update rules (optim), the training loop (loop), per-layer gradient norms
(gradflow) and .pt checkpoints (checkpoint). Only Section 4 imports this package."""
