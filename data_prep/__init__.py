"""Data preparation: read face datasets, detect and align faces (MTCNN, one 5-point template),
degrade them to low resolution and write packed sets (docs/formats.md)."""

import lrface  # noqa: F401,E402  (turns off albumentations' PyPI version check before it is imported)
