"""The one canonical 5-point face template and the similarity alignment onto it.

Torch-free (NumPy + OpenCV): serving (`--align`, lrface.detect) and `lrface prepare` (re-exported as lrface.prep.align) share it.
Point order everywhere: image-left eye, image-right eye, nose tip, image-left mouth corner,
image-right mouth corner, in pixel (x, y).
"""

from __future__ import annotations

import cv2
import numpy as np

WORK_SIZE = 112
# The widely used ArcFace 112x112 template, stored as fractions of the crop side.
TEMPLATE = (
    np.array(
        [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
        dtype=np.float64,
    )
    / 112.0
)


def template(size: int = WORK_SIZE) -> np.ndarray:
    """The template's 5 points (5 x 2, float) for a size x size crop."""
    return TEMPLATE * float(size)


def canonical_order(points: np.ndarray) -> np.ndarray:
    """Swap the eye pair and the mouth pair where needed so that the image-left point comes first."""
    p = np.array(points, dtype=np.float64).reshape(5, 2)
    for a, b in ((0, 1), (3, 4)):
        if np.isfinite(p[[a, b]]).all() and p[a, 0] > p[b, 0]:
            p[[a, b]] = p[[b, a]]
    return p


def usable_points(points: np.ndarray | None) -> bool:
    """True when the known points (NaN = unknown) pin down a similarity: both eyes plus one more."""
    if points is None:
        return False
    ok = np.isfinite(np.asarray(points, dtype=np.float64).reshape(5, 2)).all(axis=1)
    return bool(ok[0] and ok[1] and ok[2:].any())


def similarity_matrix(points: np.ndarray, size: int = WORK_SIZE) -> np.ndarray:
    """2 x 3 similarity (rotation, uniform scale, shift) mapping the known points onto the template."""
    src = canonical_order(points)
    keep = np.isfinite(src).all(axis=1)
    if keep.sum() < 2:
        raise ValueError("at least 2 known points are needed for a similarity transform")
    matrix, _ = cv2.estimateAffinePartial2D(
        src[keep].astype(np.float32), template(size)[keep].astype(np.float32), method=cv2.LMEDS
    )
    if matrix is None:
        raise ValueError("degenerate landmarks (coincident points)")
    return matrix


def align_face(image: np.ndarray, points: np.ndarray, size: int = WORK_SIZE) -> np.ndarray:
    """Warp ``image`` (H x W x 3) so that ``points`` land on the template; returns size x size x 3."""
    return warp(image, similarity_matrix(points, size), size)


def box_matrix(box, size: int = WORK_SIZE) -> np.ndarray:
    """2 x 3 map from the image to the size x size square around box (x, y, w, h), side max(w, h)."""
    x, y, w, h = (float(v) for v in box)
    side = max(w, h, 1.0)
    scale = size / side
    return np.array([[scale, 0.0, -(x + w / 2 - side / 2) * scale], [0.0, scale, -(y + h / 2 - side / 2) * scale]])


def warp(image: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """warpAffine to size x size; strong shrinking first area-resizes the source region (no aliasing)."""
    scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    if scale < 0.7:
        inv = cv2.invertAffineTransform(matrix)
        corners = np.array([[0, 0, 1], [size, 0, 1], [0, size, 1], [size, size, 1]], dtype=np.float64) @ inv.T
        x0, y0 = np.maximum(np.floor(corners.min(axis=0)).astype(int) - 2, 0)
        x1 = min(int(np.ceil(corners[:, 0].max())) + 2, image.shape[1])
        y1 = min(int(np.ceil(corners[:, 1].max())) + 2, image.shape[0])
        if x1 - x0 >= 2 and y1 - y0 >= 2:
            w, h = x1 - x0, y1 - y0
            nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
            image = cv2.resize(np.ascontiguousarray(image[y0:y1, x0:x1]), (nw, nh), interpolation=cv2.INTER_AREA)
            lin = matrix[:, :2]
            matrix = np.concatenate([lin @ np.diag([w / nw, h / nh]), (lin @ [x0, y0] + matrix[:, 2])[:, None]], axis=1)
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
