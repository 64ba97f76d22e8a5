"""lrface: low-resolution face recognition with Evolutionary Knowledge Distillation."""

__version__ = "0.1.0"
