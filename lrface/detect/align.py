"""A detected face -> the aligned working crop (the 5-point similarity onto the template, as `lrface prepare`)."""

from __future__ import annotations

import numpy as np

from .face import Face
from .template import WORK_SIZE, similarity_matrix, warp


def align_face(image_rgb: np.ndarray, face: Face, size: int = WORK_SIZE) -> np.ndarray:
    """The size x size x 3 crop whose five landmarks sit on the template (same pixels as `lrface prepare`)."""
    return warp(image_rgb, similarity_matrix(face.landmarks, size), size)


def largest_face(faces: list[Face]) -> Face | None:
    """The face with the largest box (what `--align` keeps from a photo), or None."""
    return max(faces, key=lambda f: f.area, default=None)
