"""A detected face -> the aligned working crop (the 5-point similarity onto the template, as `lrface prepare`).

Small faces: MTCNN's O-Net landmarks of a 12-30 px face are off by a pixel or two, which is a large part of a
16 px face. ``steadied_landmarks`` moves them part of the way toward the landmarks the box implies (the mean
landmarks of well-resolved faces, placed in the box): a weight of SHRINK_WEIGHT up to SHRINK_FULL px of box
width, falling linearly to 0 at SHRINK_NONE px (larger faces keep O-Net's landmarks exactly). The weights were
chosen on synthetic scenes that are not the reported benchmark's (tools/val_align_small.py,
results/2026-12-04-scenes-2.md). The all-faces / video path uses it (``align_face(..., steady=True)``);
``--align`` of face photos keeps the plain landmarks, as `lrface prepare`.
"""

from __future__ import annotations

import numpy as np

from .face import Face
from .template import WORK_SIZE, similarity_matrix, warp

# Mean landmarks of the celeba-wild-dev faces (located at ~50 px by this detector) in their box's coordinates:
# (x - box x) / box w, (y - box y) / box h; facenet-pytorch's point order (tools/val_align_small.py prints it).
BOX_LANDMARKS = np.array(
    [[0.2894, 0.3984], [0.7401, 0.3930], [0.5194, 0.6037], [0.3177, 0.7547], [0.7222, 0.7501]], dtype=np.float64
)
SHRINK_WEIGHT, SHRINK_FULL, SHRINK_NONE = 0.3, 20.0, 32.0


def box_landmarks(box) -> np.ndarray:
    """The five landmarks a box (x, y, w, h) implies: BOX_LANDMARKS placed in it (5 x 2)."""
    x, y, w, h = (float(v) for v in box)
    return np.array([x, y]) + BOX_LANDMARKS * np.array([w, h])


def shrink_weight(width: float) -> float:
    """How far (0..SHRINK_WEIGHT) a face ``width`` px wide has its landmarks moved toward its box's."""
    return SHRINK_WEIGHT * float(np.clip((SHRINK_NONE - width) / (SHRINK_NONE - SHRINK_FULL), 0.0, 1.0))


def steadied_landmarks(face: Face, weight: float | None = None) -> np.ndarray:
    """O-Net's landmarks moved a fraction ``weight`` (None: ``shrink_weight`` of the box's width) toward the
    box's implied landmarks; weight 0 returns the landmarks unchanged (5 x 2 float64)."""
    points = np.asarray(face.landmarks, dtype=np.float64).reshape(5, 2)
    w = shrink_weight(face.box[2]) if weight is None else float(weight)
    if w == 0.0:
        return points.copy()
    return (1.0 - w) * points + w * box_landmarks(face.box)


def align_face(image_rgb: np.ndarray, face: Face, size: int = WORK_SIZE, steady: bool = False) -> np.ndarray:
    """The size x size x 3 crop whose five landmarks sit on the template (same pixels as `lrface prepare`);
    ``steady``: small faces' landmarks first moved toward the box's (``steadied_landmarks``)."""
    points = steadied_landmarks(face) if steady else face.landmarks
    return warp(image_rgb, similarity_matrix(points, size), size)


def largest_face(faces: list[Face]) -> Face | None:
    """The face with the largest box (what `--align` keeps from a photo), or None."""
    return max(faces, key=lambda f: f.area, default=None)
