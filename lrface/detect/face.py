"""One detected face: box, score and the five landmarks, in the pixels of the image it was found in."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class Face:
    """``box`` (x, y, w, h), ``score`` (MTCNN's O-Net probability) and ``landmarks`` (5 x 2 float: image-left
    eye, image-right eye, nose tip, image-left mouth corner, image-right mouth corner; facenet-pytorch's order)."""

    box: tuple[float, float, float, float]
    score: float
    landmarks: np.ndarray

    @property
    def area(self) -> float:
        return self.box[2] * self.box[3]
