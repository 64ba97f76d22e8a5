"""Torch-free serving: ONNX Runtime embedder, FAISS galleries, enrolment, identification and thresholds."""
