"""FaceDetector: every face of an RGB image, best first, with bounded work (MTCNN cascade)."""

from __future__ import annotations

import math

import cv2
import numpy as np

from ..errors import UserError
from .face import Face

P_NET_CELL = 12  # MTCNN's P-Net window: the smallest face (px) a pyramid level at scale 1 can hold
MAX_CANVAS_PIXELS = 3840 * 2160  # bounded work and memory: the frame detection runs on, after upscaling
AUTO_UPSCALE, AUTO_UPSCALE_BELOW = 2.0, 20  # upscale=None: x2 for min_face_size < 20 (tools/bench_detect.py)


class FaceDetector:
    """MTCNN with facenet-pytorch's weights and defaults (thresholds 0.6/0.7/0.7, pyramid factor 0.709).

    ``min_face_size``: smallest face side sought, in the input image's pixels (below 12 the pyramid starts
    above scale 1). ``upscale``: resize the frame by this factor (bilinear) before detecting, so that R-Net
    and O-Net see small faces smoothly upsampled rather than blocky; None (default): 2 when min_face_size
    < 20, else 1 (more 12-16 px faces found, fewer false ones, ~10 % more time; docs/detection.md).
    ``max_side``: shrink larger frames (area) to this longest side first, as `lrface prepare` does (None:
    never); ``min_face_size`` then applies to the shrunk frame. ``max_faces``: at most this many faces are
    returned, and the cascade's work is bounded accordingly. ``max_candidates``: at most this many P-Net
    candidates, best P-Net score first, reach R-Net (None: max(500, 10 x max_faces); fewer is faster, and may
    miss faces in crowded frames; docs/detection.md). Frames over MAX_CANVAS_PIXELS after upscaling
    are shrunk to it (bounded time and memory; faces then need 12 px in the shrunk frame). ``refine_landmarks``:
    each face's landmarks are the mean of O-Net's and of O-Net run again on the face's final box and on its
    mirror image - steadier on small faces, one more O-Net batch per frame, no longer facenet-pytorch's output
    (the all-faces / video path turns it on; docs/detection.md)."""

    def __init__(
        self,
        min_face_size: float = 12.0,
        thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7),
        factor: float = 0.709,
        max_faces: int = 200,
        upscale: float | None = None,
        max_side: int | None = None,
        threads: int = 0,
        max_candidates: int | None = None,
        refine_landmarks: bool = False,
    ):
        if not min_face_size > 0:
            raise UserError(f"min_face_size={min_face_size}: use a face size > 0 px (e.g. 12)")
        if len(thresholds) != 3 or not all(0 <= t < 1 for t in thresholds):
            raise UserError(f"thresholds={thresholds}: give three probabilities in [0, 1)")
        if not 0.1 <= factor < 1:
            raise UserError(f"factor={factor}: the pyramid scale factor must be in [0.1, 1)")
        if not 1 <= max_faces <= 10_000:
            raise UserError(f"max_faces={max_faces}: use 1..10000")
        if max_candidates is not None and not 1 <= max_candidates <= 100_000:
            raise UserError(f"max_candidates={max_candidates}: use 1..100000, or None")
        if upscale is None:
            upscale = AUTO_UPSCALE if min_face_size < AUTO_UPSCALE_BELOW else 1.0
        if not 0.25 <= upscale <= 4:
            raise UserError(f"upscale={upscale}: use a factor in [0.25, 4]")
        if max_side is not None and max_side < P_NET_CELL:
            raise UserError(f"max_side={max_side}: use at least {P_NET_CELL} px, or None")
        self.min_face_size, self.thresholds, self.factor = float(min_face_size), tuple(thresholds), float(factor)
        self.max_faces, self.upscale, self.max_side = int(max_faces), float(upscale), max_side
        self.max_candidates = max(500, 10 * self.max_faces) if max_candidates is None else int(max_candidates)
        self.refine_landmarks = bool(refine_landmarks)
        from .mtcnn import Cascade

        self.cascade = Cascade(threads=threads)

    def detect(self, image_rgb: np.ndarray) -> list[Face]:
        """uint8 H x W x 3 RGB -> faces sorted by score (descending), boxes and landmarks in its pixels."""
        image = np.asarray(image_rgb)
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise UserError(f"detect: expected a uint8 H x W x 3 RGB image, got {image.dtype} {image.shape}")
        h, w = image.shape[:2]
        scale = self.upscale
        if self.max_side is not None:
            scale = min(scale, self.max_side / max(h, w))
        minsize = self.min_face_size * self.upscale  # max_side's shrink keeps it: it then applies to the canvas
        cap = math.sqrt(MAX_CANVAS_PIXELS / (h * w * scale * scale))
        if cap < 1:  # bounded work: larger frames are shrunk to MAX_CANVAS_PIXELS, their faces with them
            scale, minsize = scale * cap, minsize * cap
        canvas = image
        if scale != 1.0:
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            canvas = cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        # P-Net's first pyramid level holds at most MAX_CANVAS_PIXELS too
        minsize = max(minsize, P_NET_CELL * math.sqrt(canvas.shape[0] * canvas.shape[1] / MAX_CANVAS_PIXELS))
        if min(canvas.shape[:2]) * P_NET_CELL / minsize < P_NET_CELL:  # no pyramid level holds a 12 px window
            return []
        boxes, points = self.cascade.run(
            canvas, minsize, self.thresholds, self.factor, self.max_faces, self.max_candidates, self.refine_landmarks
        )
        order = np.argsort(-boxes[:, 4], kind="stable")[: self.max_faces]
        return [
            Face(
                box=(
                    float(boxes[i, 0] / scale),
                    float(boxes[i, 1] / scale),
                    float((boxes[i, 2] - boxes[i, 0]) / scale),
                    float((boxes[i, 3] - boxes[i, 1]) / scale),
                ),
                score=float(boxes[i, 4]),
                landmarks=_frozen(points[i] / scale),
            )
            for i in order
        ]


def _frozen(a: np.ndarray) -> np.ndarray:
    """A read-only float64 copy (a Face is immutable)."""
    a = np.array(a, dtype=np.float64)
    a.setflags(write=False)
    return a
