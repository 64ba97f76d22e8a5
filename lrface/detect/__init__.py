"""Torch-free face detection (MTCNN's three ONNX networks on OpenCV's DNN module) and 5-point alignment.

``FaceDetector(...).detect(rgb) -> list[Face]`` (best first); ``align_face(rgb, face)`` gives the working crop
that `lrface prepare` and `--align` use."""

from .align import align_face, largest_face
from .detector import FaceDetector
from .face import Face

__all__ = ["Face", "FaceDetector", "align_face", "largest_face"]
