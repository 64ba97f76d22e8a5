"""Torch-free serving: ONNX Runtime embedder, FAISS galleries, identification and its metrics."""
