"""Evaluation (`lrface evaluate`, the benchmark): identification and verification metrics, pair alignment
and plots. Not part of the torch-free serving core: it may use matplotlib, scipy and lrface.prep."""
