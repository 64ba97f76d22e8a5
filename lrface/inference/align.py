"""`--align`: raw photos -> MTCNN detection + 5-point alignment with lrface.prep's code, giving the
same working crop as `lrface prepare folder` (this module imports torch when used)."""

from __future__ import annotations

import numpy as np

from ..imageio import BadImage

NO_FACE = "no-face"


class PhotoAligner:
    """One decoded photo -> the aligned working crop of its largest face, or BadImage (reason "no-face")."""

    def __init__(self):
        from ..extras import require

        require("train", "--align (MTCNN face detection)")
        from lrface.prep.detect import FaceDetector
        from lrface.prep.options import PrepareConfig

        self.cfg = PrepareConfig(fallback="skip")
        self.detector = FaceDetector(batch_size=1)

    def __call__(self, path, image: np.ndarray) -> np.ndarray:
        from lrface.prep.locate import detect_and_align

        [(crop, _status)] = detect_and_align(self.detector, [image], [None], self.cfg)
        if crop is None:
            raise BadImage(path, NO_FACE, "no face found (MTCNN); use a photo with a visible face")
        return crop
