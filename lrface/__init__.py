"""lrface: low-resolution face recognition with Evolutionary Knowledge Distillation."""

import os

# albumentations asks PyPI for a newer release on every import (up to 2 s, and a network call from
# training and data_prep machines that are often offline); lrface pins its version, so skip that.
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

__version__ = "0.1.0"
