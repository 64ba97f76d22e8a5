"""The high-resolution face teacher of `lrface prepare --hr-teacher dlib`: dlib's ResNet face descriptor.

dlib (``pip install dlib-bin face-recognition-models``, the ``hr`` extra) is imported only here and
only on use; training never imports it. The descriptor is computed from the full-resolution image:
the face region that lrface.prep found (the MTCNN landmarks' similarity, or the box fallback) gives a
rectangle, dlib's own 5-point shape predictor places its landmarks in it, ``get_face_chip`` cuts the
150 px chip, and the ResNet gives 128 numbers, L2-normalised here.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from lrface.errors import UserError

from .align import WORK_SIZE

INSTALL = 'pip install "lrface[hr]" (or: pip install dlib-bin face-recognition-models)'
TEACHERS = ("dlib",)
# Where dlib's HOG detector puts its face rectangle on a template-aligned crop (x0, y0, x1, y1 as
# fractions of the crop side); measured on 44 aligned celeba-wild-dev faces (sd 0.04-0.06).
TEMPLATE_RECT = (0.162, 0.261, 0.869, 0.968)
CHIP = 150


def _model_dir() -> Path:
    """face_recognition_models' data folder, found without importing the package (it needs pkg_resources)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("face_recognition_models")
    return Path(next(iter(spec.submodule_search_locations))) / "models"


class DlibTeacher:
    """dlib's face descriptor (dlib_face_recognition_resnet_model_v1, 128-d, about 99.4 % on LFW at full size)."""

    name = "dlib-resnet-v1"
    dim = 128
    input = (
        f"full-resolution RGB image; dlib 5-point shape predictor in the detected face region, get_face_chip {CHIP} px"
    )

    def __init__(self):
        try:
            import dlib

            models = _model_dir()
        except ImportError:
            raise UserError(f"--hr-teacher dlib needs dlib and its weights: {INSTALL}") from None
        try:
            self._sp = dlib.shape_predictor(str(models / "shape_predictor_5_face_landmarks.dat"))
            self._net = dlib.face_recognition_model_v1(str(models / "dlib_face_recognition_resnet_model_v1.dat"))
        except RuntimeError as e:
            raise UserError(f"dlib's model files are unreadable ({e}); reinstall them: {INSTALL}") from None
        self._dlib = dlib

    def manifest_entry(self) -> dict:
        return {"name": self.name, "dim": self.dim, "input": self.input}

    def describe(self, image: np.ndarray, rect) -> np.ndarray:
        """L2-normalised float32 descriptor of the face in ``rect`` (x0, y0, x1, y1) of RGB uint8 ``image``."""
        dlib = self._dlib
        image = np.ascontiguousarray(image, dtype=np.uint8)
        x0, y0, x1, y1 = (round(v) for v in rect)
        shape = self._sp(image, dlib.rectangle(x0, y0, max(x1, x0 + 1), max(y1, y0 + 1)))
        chip = dlib.get_face_chip(image, shape, size=CHIP)
        v = np.asarray(self._net.compute_face_descriptor(chip), dtype=np.float32)
        return v / max(float(np.linalg.norm(v)), 1e-12)


def build_teacher(name: str) -> DlibTeacher:
    if name not in TEACHERS:
        raise UserError(f"--hr-teacher {name}: unknown; choose one of {', '.join(TEACHERS)}")
    return DlibTeacher()


def face_rect(matrix: np.ndarray, size: int = WORK_SIZE) -> tuple[float, float, float, float]:
    """The dlib-style face rectangle in image coordinates for an alignment ``matrix`` (image -> size crop)."""
    import cv2

    x0, y0, x1, y1 = (v * size for v in TEMPLATE_RECT)
    inv = cv2.invertAffineTransform(np.asarray(matrix, dtype=np.float64))
    corners = np.array([[x0, y0, 1], [x1, y0, 1], [x0, y1, 1], [x1, y1, 1]]) @ inv.T
    (a, b), (c, d) = corners.min(axis=0), corners.max(axis=0)
    return float(a), float(b), float(c), float(d)
