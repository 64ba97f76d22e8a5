"""`--align`: raw photo -> its largest face (torch-free MTCNN, lrface.detect) aligned with the 5-point
template: the same working crop as `lrface prepare folder` (same detector settings and canvas)."""

from __future__ import annotations

import warnings

import numpy as np

from ..detect import FaceDetector, align_face, largest_face
from ..errors import Hint
from ..imageio import BadImage

NO_FACE = "no-face"
# `lrface prepare`'s detection settings (lrface.prep.options.PrepareConfig: min_face, max_side)
PREPARE_MIN_FACE, PREPARE_MAX_SIDE = 20, 640
# a second face with a box at least this share of the largest one's area makes the photo a group photo, in
# which the largest face need not be the person meant (smaller faces are taken for the background)
SEVERAL_FACES_AREA = 0.5


class PhotoAligner:
    """One decoded photo -> the aligned working crop of its largest face, or BadImage (reason "no-face"); a
    Hint (once per aligner) when another face is about as large, as in a group photo."""

    def __init__(self, threads: int = 0):
        self.detector = FaceDetector(min_face_size=PREPARE_MIN_FACE, max_side=PREPARE_MAX_SIDE, threads=threads)
        self._several_hinted = False

    def __call__(self, path, image: np.ndarray) -> np.ndarray:
        faces = self.detector.detect(image)
        face = largest_face(faces)
        if face is None:
            raise BadImage(path, NO_FACE, "no face found (MTCNN); use a photo with a visible face")
        similar = sum(f.area >= SEVERAL_FACES_AREA * face.area for f in faces)
        if similar > 1 and not self._several_hinted:
            self._several_hinted = True  # once per aligner: one line for a folder of group photos
            warnings.warn(
                Hint(
                    f"{path} shows {similar} faces of similar size; the largest was used, which may not be the "
                    "person meant: crop the photo to one face (identify and embed read every face with --all-faces)"
                ),
                stacklevel=2,
            )
        return align_face(image, face)
