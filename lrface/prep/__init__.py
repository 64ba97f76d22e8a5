"""Data preparation: read face datasets, detect and align faces (MTCNN, one 5-point template),
degrade them to low resolution and write packed sets (docs/formats.md)."""
