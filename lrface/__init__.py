"""lrface: low-resolution face recognition with Evolutionary Knowledge Distillation."""

import os

# albumentations asks PyPI for a newer release on every import (up to 2 s, and a network call from
# training and data-preparation machines that are often offline); lrface declares the versions it supports, so skip it.
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

__version__ = "0.7.0"

__all__ = ["Gallery", "Recognizer", "__version__"]


def __getattr__(name: str):
    """``lrface.Recognizer`` / ``lrface.Gallery`` load the (torch-free) API on first use, so ``import lrface``
    stays light."""
    if name in ("Recognizer", "Gallery"):
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'lrface' has no attribute {name!r}")
