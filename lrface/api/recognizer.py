"""`Recognizer`: an exported student (ONNX Runtime) that embeds, verifies and identifies face images."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import UserError, WrongType
from .results import FaceIdentification, Identification, Verification

if TYPE_CHECKING:
    from .gallery import Gallery

ImageLike = str | Path | bytes | np.ndarray


def image_name(image: ImageLike, i: int) -> str:
    return str(image) if isinstance(image, (str, Path)) else f"image {i}"


def as_list(images) -> list:
    """One image (path, bytes, H x W x 3 or grey H x W array) or a sequence of them -> a list."""
    if isinstance(images, (str, Path, bytes, bytearray, memoryview)) or (
        isinstance(images, np.ndarray) and images.ndim in (2, 3)
    ):
        return [images]
    if isinstance(images, (dict, set, frozenset)):  # unordered, or names -> images: not a list of images
        raise WrongType(f"expected an image or a list of images, got a {type(images).__name__}")
    try:
        return list(images)
    except TypeError:
        raise WrongType(
            f"expected an image (path, encoded bytes or uint8 RGB array) or a list of them, got {type(images).__name__}"
        ) from None


class Recognizer:
    """An exported lrface student (ONNX Runtime): embed, verify and identify face images.

    ``model``: a path to an exported ``student.onnx``, a packaged model name, or None for the
    packaged default. ``align``: images are raw photos (MTCNN detection + alignment, torch-free: lrface.detect).
    ``threads``: ONNX Runtime intra-op threads (0: one per core)."""

    def __init__(self, model: str | Path | None = None, *, align: bool = False, threads: int = 0):
        from ..checks import path_arg, thread_count
        from ..inference.embedder import Embedder
        from ..pretrained import resolve_model

        if not isinstance(align, bool):
            raise WrongType(f"align={align!r}: pass True or False")
        threads = thread_count(threads, "threads")
        model = None if model is None else str(path_arg(model, "model"))
        self.embedder = Embedder(resolve_model(model), align=align, threads=threads)
        self._detector = None

    @property
    def detector(self):
        """The torch-free face detector of :meth:`identify_faces` (built on first use)."""
        if self._detector is None:
            from ..inference.scenes import make_detector

            self._detector = make_detector()
        return self._detector

    @property
    def model_path(self) -> Path:
        return self.embedder.path

    @property
    def fingerprint(self) -> str:
        return self.embedder.fingerprint

    @property
    def dim(self) -> int:
        return self.embedder.dim

    def load(self, image: ImageLike, name: str | None = None, max_pixels: int | None = None) -> np.ndarray:
        """One image -> uint8 RGB at the model's input size; BadImage (a UserError) names what is wrong."""
        from ..imageio import MAX_PIXELS, BadImage

        if isinstance(image, (str, Path)):
            return self.embedder.load(image)
        if isinstance(image, (bytes, bytearray, memoryview)):
            return self.embedder.load_bytes(bytes(image), name or "upload", max_pixels or MAX_PIXELS)
        if not isinstance(image, np.ndarray):
            raise BadImage(
                name or "image",
                "odd-type",
                f"expected a path, encoded bytes or a uint8 array, got {type(image).__name__}",
            )
        arr = np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image  # grey H x W
        if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
            raise BadImage(
                name or "array", "odd-shape", f"expected a uint8 RGB array H x W x 3, got {arr.dtype} {arr.shape}"
            )
        return self.embedder.prepare(arr, name or "array")

    def decode(self, image: ImageLike, name: str | None = None, max_pixels: int | None = None) -> np.ndarray:
        """One image at its own size -> uint8 RGB H x W x 3 (BadImage names what is wrong)."""
        from ..imageio import MAX_PIXELS, BadImage, decode_image, read_image

        max_pixels = max_pixels or MAX_PIXELS
        if isinstance(image, (str, Path)):
            arr = read_image(image)
        elif isinstance(image, (bytes, bytearray, memoryview)):
            arr = decode_image(bytes(image), name or "upload", max_pixels)
        elif isinstance(image, np.ndarray):
            arr = np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image
        else:
            raise BadImage(
                name or "image",
                "odd-type",
                f"expected a path, encoded bytes or a uint8 array, got {type(image).__name__}",
            )
        if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
            raise BadImage(
                name or "array", "odd-shape", f"expected a uint8 RGB array H x W x 3, got {arr.dtype} {arr.shape}"
            )
        if arr.shape[0] * arr.shape[1] > max_pixels:
            raise BadImage(
                name or "array",
                "too-large",
                f"{arr.shape[1]}x{arr.shape[0]} is over {max_pixels / 1e6:g} megapixels; downscale it first",
            )
        return np.ascontiguousarray(arr)

    def identify_faces(
        self,
        image: ImageLike,
        gallery: Gallery | str | Path,
        top_k: int = 5,
        threshold: float | None = None,
        max_pixels: int | None = None,
    ) -> list[FaceIdentification]:
        """Every face of one photo or frame (detected torch-free, from about 12-18 px across, at most 500),
        aligned and identified; best detection first; [] when there is no face."""
        from ..inference.scenes import embed_faces, find_faces

        gallery = _as_gallery(gallery)
        gallery.check_model(self)
        name = image_name(image, 0)
        faces = find_faces(self.detector, self.decode(image, name, max_pixels))
        if not faces:
            return []
        results = gallery.search(embed_faces(self.embedder, faces), top_k, threshold)
        return [
            FaceIdentification(
                r.identity, r.score, r.matches, r.threshold, r.threshold_source, name, f.box, f.face, f.det_score
            )
            for f, r in zip(faces, results)
        ]

    def embed(self, images: ImageLike | list[ImageLike]) -> np.ndarray:
        """Images (one, or a list) -> float32 N x D L2-normalised embeddings (cosine = dot product)."""
        images = as_list(images)
        if len(images) == 0:
            raise UserError("no images to embed")
        return self.embedder.embed([self.load(im, image_name(im, i)) for i, im in enumerate(images)])

    def verify(
        self, a: ImageLike, b: ImageLike, threshold: float | None = None, gallery: Gallery | str | Path | None = None
    ) -> Verification:
        """Are ``a`` and ``b`` the same person? ``same`` when the cosine score >= the threshold: ``threshold``,
        else the verify threshold calibrated in ``gallery`` (see :meth:`Gallery.calibrate`), else the one in
        a packaged model's card at FAR 1e-3 on the validation the card names
        (:func:`lrface.inference.threshold.verify_threshold`); ``threshold_far`` says the FAR."""
        from ..inference.threshold import accepts, verify_threshold

        if gallery is not None:
            gallery = _as_gallery(gallery)
            gallery.check_model(self)
        value, source, far = verify_threshold(threshold, gallery, self.model_path)
        if value is None:
            raise UserError(
                f"{gallery.path} has no calibrated threshold and {self.model_path.name} is no packaged model with "
                f"one; run `lrface gallery calibrate {gallery.path} --far 0.01` or pass --threshold"
                if gallery is not None
                else "no verification threshold: pass threshold=T (--threshold T) or a gallery calibrated "
                "with `lrface gallery calibrate G --far 0.01` (--gallery G)"
            )
        e = self.embed([a, b])
        score = float(e[0] @ e[1])
        return Verification(bool(accepts(score, value)), score, value, source, far)

    def identify(
        self,
        probes: ImageLike | list[ImageLike],
        gallery: Gallery | str | Path,
        top_k: int = 5,
        threshold: float | None = None,
    ) -> list[Identification]:
        """Top-k identities per probe; "unknown" below ``threshold`` (default: the gallery's calibrated one)."""
        gallery = _as_gallery(gallery)
        gallery.check_model(self)
        probes = as_list(probes)
        results = gallery.search(self.embed(probes), top_k, threshold)
        return [_with_probe(r, image_name(p, i)) for i, (r, p) in enumerate(zip(results, probes))]


def _with_probe(r: Identification, probe: str) -> Identification:
    return Identification(r.identity, r.score, r.matches, r.threshold, r.threshold_source, probe)


def _as_gallery(gallery) -> Gallery:
    from .gallery import Gallery

    return gallery if isinstance(gallery, Gallery) else Gallery.open(gallery)


def as_recognizer(recognizer) -> Recognizer | None:
    """``recognizer`` when it is one (or None); WrongType otherwise."""
    if recognizer is not None and not isinstance(recognizer, Recognizer):
        raise WrongType(f"recognizer {recognizer!r} is a {type(recognizer).__name__}; pass an lrface.Recognizer")
    return recognizer
