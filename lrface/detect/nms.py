"""Greedy non-maximum suppression (NumPy), in the two forms MTCNN uses."""

from __future__ import annotations

import numpy as np


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float, mode: str = "union") -> np.ndarray:
    """Indices kept, best score first. ``union``: IoU with areas (x2-x1)(y2-y1) (torchvision's); ``min``:
    intersection over the smaller box with +1 pixel areas (the original MTCNN's, for the last stage)."""
    if len(boxes) == 0:
        return np.zeros(0, np.int64)
    plus = 1.0 if mode == "min" else 0.0
    x1, y1, x2, y2 = (boxes[:, k].astype(np.float64) for k in range(4))
    area = (x2 - x1 + plus) * (y2 - y1 + plus)
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(i)
        w = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]) + plus)
        h = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]) + plus)
        inter = w * h
        overlap = inter / (np.minimum(area[i], area[rest]) if mode == "min" else area[i] + area[rest] - inter)
        order = rest[overlap <= threshold]
    return np.asarray(keep, np.int64)
