"""The MTCNN cascade (temporary: facenet-pytorch's; to be replaced by ONNX Runtime + NumPy)."""

from __future__ import annotations

import numpy as np


class Cascade:
    def __init__(self, threads: int = 0):
        import torch
        from facenet_pytorch import MTCNN

        self._torch = torch
        self._mtcnn = MTCNN(keep_all=True, device="cpu").eval()

    def run(self, image, minsize, thresholds, factor, max_faces):
        """-> boxes (N x 5: x1 y1 x2 y2 score), points (N x 5 x 2) in ``image``'s pixels."""
        from facenet_pytorch.models.utils.detect_face import detect_face

        m = self._mtcnn
        with self._torch.inference_mode():
            boxes, points = detect_face(image[None], minsize, m.pnet, m.rnet, m.onet, list(thresholds), factor, "cpu")
        return np.asarray(boxes[0], np.float64).reshape(-1, 5), np.asarray(points[0], np.float64).reshape(-1, 5, 2)
