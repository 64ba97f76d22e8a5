"""The training engine: loop, checkpoints, evaluation, logging."""
