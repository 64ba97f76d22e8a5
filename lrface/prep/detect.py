"""Face detection with facenet-pytorch's MTCNN (bundled weights, CPU), batched over same-size images."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Faces:
    """Detections in one image: boxes (N x 4, x1 y1 x2 y2), probs (N), points (N x 5 x 2, template order)."""

    boxes: np.ndarray
    probs: np.ndarray
    points: np.ndarray

    def __len__(self) -> int:
        return len(self.boxes)


class FaceDetector:
    """MTCNN with keep_all; ``detect`` groups images by (shape, min face size) and runs batches."""

    def __init__(self, thresholds=(0.6, 0.7, 0.7), factor: float = 0.709, batch_size: int = 32):
        import torch
        from facenet_pytorch import MTCNN

        self._torch = torch
        self._mtcnn = MTCNN(keep_all=True, thresholds=list(thresholds), factor=factor, device="cpu").eval()
        self.thresholds, self.factor, self.batch_size = list(thresholds), factor, max(1, int(batch_size))

    def detect(self, images: list[np.ndarray], min_faces: list[float]) -> list[Faces]:
        """Detect faces in uint8 RGB images; ``min_faces[i]`` is the smallest face side (px) sought in image i."""
        from facenet_pytorch.models.utils.detect_face import detect_face

        out: list[Faces | None] = [None] * len(images)
        groups: dict[tuple, list[int]] = {}
        for i, (im, m) in enumerate(zip(images, min_faces)):
            groups.setdefault((im.shape, round(float(m))), []).append(i)
        m = self._mtcnn
        with self._torch.inference_mode():
            for (shape, minsize), idx in groups.items():
                minsize = max(12, minsize)
                if min(shape[:2]) * 12 / minsize < 12:  # no pyramid level holds MTCNN's 12 px window: no face
                    for i in idx:
                        out[i] = Faces(np.zeros((0, 4)), np.zeros(0), np.zeros((0, 5, 2)))
                    continue
                for s in range(0, len(idx), self.batch_size):
                    part = idx[s : s + self.batch_size]
                    boxes, points = detect_face(
                        np.stack([images[i] for i in part]),
                        minsize,
                        m.pnet,
                        m.rnet,
                        m.onet,
                        self.thresholds,
                        self.factor,
                        "cpu",
                    )
                    for i, b, p in zip(part, boxes, points):
                        b = np.asarray(b, dtype=np.float64).reshape(-1, 5)
                        out[i] = Faces(b[:, :4], b[:, 4], np.asarray(p, dtype=np.float64).reshape(-1, 5, 2))
        return out


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of boxes ``a`` (N x 4) with one box ``b`` (4,), all x1 y1 x2 y2."""
    w = np.clip(np.minimum(a[:, 2], b[2]) - np.maximum(a[:, 0], b[0]), 0, None)
    h = np.clip(np.minimum(a[:, 3], b[3]) - np.maximum(a[:, 1], b[1]), 0, None)
    inter = w * h
    area = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / np.maximum(area, 1e-9)


def pick_face(faces: Faces, hint=None, min_iou: float = 0.2) -> int | None:
    """Index of the face to keep: best IoU with ``hint`` (x1 y1 x2 y2) if given, else the largest; None if none."""
    if faces is None or not len(faces):
        return None
    if hint is not None:
        overlap = iou(faces.boxes, np.asarray(hint, dtype=np.float64))
        best = int(np.argmax(overlap))
        return best if overlap[best] >= min_iou else None
    area = (faces.boxes[:, 2] - faces.boxes[:, 0]) * (faces.boxes[:, 3] - faces.boxes[:, 1])
    return int(np.argmax(area))
