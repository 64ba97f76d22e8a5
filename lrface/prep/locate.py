"""Find the face in each image (MTCNN, batched, in a region around a known box when there is one)
and the map that aligns it to the working crop; the box itself where no face is found."""

from __future__ import annotations

import cv2
import numpy as np

from .align import box_matrix, similarity_matrix, warp
from .options import PrepareConfig


def _canvas(image: np.ndarray, box, cfg: PrepareConfig):
    """Detection input, its min face size, the canvas->image map (scale, offset) and the box hint."""
    if box is not None:
        x, y, w, h = box
        side = cfg.box_enlarge * max(w, h)
        ox, oy = x + w / 2 - side / 2, y + h / 2 - side / 2
        s = cfg.region / side
        canvas = warp(image, np.array([[s, 0, -ox * s], [0, s, -oy * s]]), cfg.region)
        hint = np.array([x - ox, y - oy, x - ox + w, y - oy + h]) * s
        return canvas, max(cfg.min_face, cfg.region / 4), s, (ox, oy), hint
    s = min(1.0, cfg.max_side / max(image.shape[:2]))
    canvas = (
        image
        if s == 1.0
        else cv2.resize(
            image, (max(1, round(image.shape[1] * s)), max(1, round(image.shape[0] * s))), interpolation=cv2.INTER_AREA
        )
    )
    return canvas, cfg.min_face, s, (0.0, 0.0), None


def detect_and_align(
    detector, images: list[np.ndarray], boxes: list, cfg: PrepareConfig
) -> list[tuple[np.ndarray | None, str]]:
    """Detect faces (MTCNN, batched) and align each image's face to the working crop, as `lrface prepare`
    does: (crop, "aligned"), the box fallback (crop, "box-only"), or (None, "skipped:no-face").
    ``boxes[i]`` is a known face box (x, y, w, h) or None to take the largest face in the whole image."""
    return [
        (None if m is None else warp(im, m, cfg.work_size), status)
        for im, (m, status) in zip(images, locate(detector, images, boxes, cfg))
    ]


def locate(detector, images: list[np.ndarray], boxes: list, cfg: PrepareConfig) -> list[tuple[np.ndarray | None, str]]:
    """What ``detect_and_align`` warps with: (2 x 3 image -> working-crop map, status) per image."""
    from .detect import pick_face

    canvases = [_canvas(im, box, cfg) for im, box in zip(images, boxes)]
    found = detector.detect([c[0] for c in canvases], [c[1] for c in canvases])
    out: list[tuple[np.ndarray | None, str]] = []
    for image, box, (_, _, s, offset, hint), faces in zip(images, boxes, canvases, found):
        j = pick_face(faces, hint)
        if j is not None:
            out.append((similarity_matrix(faces.points[j] / s + offset, cfg.work_size), "aligned"))
        elif cfg.fallback == "box":
            out.append((box_matrix(box or (0, 0, image.shape[1], image.shape[0]), cfg.work_size), "box-only"))
        else:
            out.append((None, "skipped:no-face"))
    return out
