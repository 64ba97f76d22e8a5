"""`--align`: raw photo -> its largest face (torch-free MTCNN, lrface.detect) aligned with the 5-point
template: the same working crop as `lrface prepare folder` (same detector settings and canvas)."""

from __future__ import annotations

import numpy as np

from ..detect import FaceDetector, align_face, largest_face
from ..imageio import BadImage

NO_FACE = "no-face"
# `lrface prepare`'s detection settings (lrface.prep.options.PrepareConfig: min_face, max_side)
PREPARE_MIN_FACE, PREPARE_MAX_SIDE = 20, 640


class PhotoAligner:
    """One decoded photo -> the aligned working crop of its largest face, or BadImage (reason "no-face")."""

    def __init__(self, threads: int = 0):
        self.detector = FaceDetector(min_face_size=PREPARE_MIN_FACE, max_side=PREPARE_MAX_SIDE, threads=threads)

    def __call__(self, path, image: np.ndarray) -> np.ndarray:
        face = largest_face(self.detector.detect(image))
        if face is None:
            raise BadImage(path, NO_FACE, "no face found (MTCNN); use a photo with a visible face")
        return align_face(image, face)
