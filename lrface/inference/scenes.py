"""Every face of an image (torch-free): detect with the ONNX cascade, align each face to the working crop
with the 5-point template, embed and identify; the work is bounded by the detector's ``max_faces``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_FACES = 500  # faces per image or frame: detection, alignment and embedding stay bounded
# smallest face side (px) the detector looks for, the default of --min-face, identify_faces and video. 18 (with the
# x2 upscale below 20 px) still finds ~92 % of 12-15 px faces at ~1.5x the frame rate of 12 (whole pipeline on one
# core of the shared VM: 9.8 against 6.7 frames/s at 640x480, 5.4 against 3.2 at 1280x720); 20 (no upscale) is ~10 %
# faster but had more false faces and worse landmarks on small faces (tools/bench_scene_speed.py,
# results/2026-12-04-scenes-2.md)
MIN_FACE = 18
NO_FACE_REASON = "no face found (ONNX MTCNN cascade, faces from about 12-18 px across)"


def make_detector(min_face_size: int = MIN_FACE, max_faces: int | None = None):
    """The torch-free face detector used by ``--all-faces``, video and the service's ``all_faces``."""
    from ..detect import FaceDetector

    return FaceDetector(min_face_size=min_face_size, max_faces=max_faces or MAX_FACES, refine_landmarks=True)


@dataclass(frozen=True)
class SceneFace:
    """One detected face: ``box`` (x, y, w, h) in image pixels, its index in the image and the aligned crop."""

    face: int
    box: tuple[float, float, float, float]
    det_score: float
    crop: np.ndarray

    def location(self) -> dict:
        return {"box": [round(float(v), 1) for v in self.box], "face": self.face, "det_score": round(self.det_score, 4)}


def find_faces(detector, image: np.ndarray) -> list[SceneFace]:
    """Every face of a uint8 RGB image, largest-score first as the detector returns them, each aligned. When the
    detector upscales the frame (min face < 20 px), the landmarks of faces under 32 px are first moved part of the
    way toward their box's (lrface.detect.align: measured to help there, and to hurt without the upscale, whose
    boxes sit differently on small faces; results/2026-12-04-scenes-2.md)."""
    from ..detect import align_face

    steady = getattr(detector, "upscale", 1.0) > 1.0
    return [
        SceneFace(i, tuple(float(v) for v in f.box), float(f.score), align_face(image, f, steady=steady))
        for i, f in enumerate(detector.detect(image))
    ]


def capped(detector, faces: list) -> bool:
    """Whether the detector stopped at its ``max_faces`` cap (more faces may be in the image)."""
    cap = getattr(detector, "max_faces", None)
    return cap is not None and len(faces) >= cap


def cap_note(name, detector) -> str:
    return f"warning: {name}: stopped at {detector.max_faces} faces (the per-image cap); more may be in the image"


def faces_of_images(files, explicit, detector, warn):
    """(file, image, faces) for each readable image: an unreadable file named on the command line
    (``explicit``) raises BadImage, one found in a folder is skipped with a warning; a capped image warns."""
    from ..imageio import BadImage, read_image

    for f in files:
        try:
            image = read_image(f)
        except BadImage as e:
            if f in explicit:
                raise
            warn(f"warning: skipped {e}")
            continue
        faces = find_faces(detector, image)
        if capped(detector, faces):
            warn(cap_note(f, detector))
        yield f, image, faces


def embed_faces(embedder, faces: list[SceneFace]) -> np.ndarray:
    """The faces' L2-normalised embeddings (N x D, N may be 0)."""
    if not faces:
        return np.zeros((0, embedder.dim), np.float32)
    return embedder.embed([f.crop for f in faces])


def scene_entries(name: str, faces: list[SceneFace], results) -> list[dict]:
    """identify's JSON entries of one image: one per face, or one with identity null and a reason."""
    if not faces:
        return [{"identity": None, "score": None, "matches": [], "probe": name, "reason": NO_FACE_REASON}]
    return [{**r.to_dict(), "probe": name, **f.location()} for f, r in zip(faces, results)]
