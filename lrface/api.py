"""The public Python API: ``from lrface import Recognizer, Gallery`` (torch-free unless ``align=True``).

    from lrface import Gallery, Recognizer

    rec = Recognizer("student.onnx")                 # Recognizer() uses the packaged model
    gallery = Gallery.create("people.gallery", rec)  # or Gallery.open("people.gallery")
    gallery.add("Ann", ["ann1.png", "ann2.png"])
    gallery.calibrate(far=0.01)                      # threshold for "unknown", stored in the gallery
    [result] = rec.identify(["probe.png"], gallery)
    print(result.identity, result.score, result.threshold_source)
    same, score = rec.verify("a.png", "b.png", threshold=0.6)

Images are file paths, encoded bytes (an upload) or uint8 RGB arrays (H x W x 3). The CLI
(`lrface identify|verify|embed|gallery`) and the HTTP service call these classes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .errors import UserError

ImageLike = str | Path | bytes | np.ndarray
UNKNOWN = "unknown"
NO_THRESHOLD = "none (the best match is always named)"


@dataclass(frozen=True)
class Match:
    identity: str
    score: float


@dataclass(frozen=True)
class Identification:
    """One probe's answer: ``identity`` is the best match, or "unknown" when its score is below the threshold."""

    identity: str
    score: float | None
    matches: list[Match]
    threshold: float | None
    threshold_source: str
    probe: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Verification:
    """1:1 answer; unpacks as ``same, score = ...``."""

    same: bool
    score: float
    threshold: float
    threshold_source: str

    def __iter__(self):
        return iter((self.same, self.score))

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Enrolment:
    """What :meth:`Gallery.add` did: samples added, duplicates of enrolled files, bad images skipped."""

    identity: str
    added: int
    duplicates: int
    bad: int = 0
    skipped: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def _name(image: ImageLike, i: int) -> str:
    return str(image) if isinstance(image, (str, Path)) else f"image {i}"


class Recognizer:
    """An exported lrface student (ONNX Runtime): embed, verify and identify face images.

    ``model``: a path to an exported ``student.onnx``, a packaged model name, or None for the
    packaged default. ``align``: images are raw photos (MTCNN detection + alignment; imports torch).
    ``threads``: ONNX Runtime intra-op threads (0: one per core)."""

    def __init__(self, model: str | Path | None = None, *, align: bool = False, threads: int = 0):
        from .inference.embedder import Embedder
        from .pretrained import resolve_model

        self.embedder = Embedder(resolve_model(None if model is None else str(model)), align=align, threads=threads)

    @classmethod
    def from_embedder(cls, embedder) -> Recognizer:
        rec = cls.__new__(cls)
        rec.embedder = embedder
        return rec

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
        from .imageio import MAX_PIXELS, BadImage

        if isinstance(image, (str, Path)):
            return self.embedder.load(image)
        if isinstance(image, (bytes, bytearray, memoryview)):
            return self.embedder.load_bytes(bytes(image), name or "upload", max_pixels or MAX_PIXELS)
        arr = np.asarray(image)
        if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
            raise BadImage(name or "array", "odd-shape", f"expected a uint8 RGB array H x W x 3, got {arr.dtype} {arr.shape}")
        return self.embedder.prepare(arr, name or "array")

    def embed(self, images: ImageLike | list[ImageLike]) -> np.ndarray:
        """Images (one, or a list) -> float32 N x D L2-normalised embeddings (cosine = dot product)."""
        images = _as_list(images)
        if len(images) == 0:
            raise UserError("no images to embed")
        return self.embedder.embed([self.load(im, _name(im, i)) for i, im in enumerate(images)])

    def verify(self, a: ImageLike, b: ImageLike, threshold: float | None = None,
               gallery: Gallery | str | Path | None = None) -> Verification:
        """Are ``a`` and ``b`` the same person? ``same`` when the cosine score >= the threshold: ``threshold``,
        else the verify threshold calibrated in ``gallery`` (see :meth:`Gallery.calibrate`)."""
        from .inference.threshold import accepts

        if threshold is None and gallery is None:
            raise UserError("no verification threshold: pass threshold=T (--threshold T) or a gallery calibrated "
                            "with `lrface gallery calibrate G --far 0.01` (--gallery G)")
        if gallery is not None:
            gallery = _as_gallery(gallery)
            gallery.check_model(self)
            value, source = gallery.threshold(threshold, "verify")
        else:
            value, source = _explicit(threshold)
        if value is None:
            raise UserError(f"{gallery.path} has no calibrated threshold; run `lrface gallery calibrate {gallery.path} --far 0.01` "
                            "or pass --threshold")
        e = self.embed([a, b])
        score = float(e[0] @ e[1])
        return Verification(same=bool(accepts(score, value)), score=score, threshold=value, threshold_source=source)

    def identify(self, probes: ImageLike | list[ImageLike], gallery: Gallery | str | Path, top_k: int = 5,
                 threshold: float | None = None) -> list[Identification]:
        """Top-k identities per probe; "unknown" below ``threshold`` (default: the gallery's calibrated one)."""
        gallery = _as_gallery(gallery)
        gallery.check_model(self)
        probes = _as_list(probes)
        results = gallery.search(self.embed(probes), top_k, threshold)
        return [_with_probe(r, _name(p, i)) for i, (r, p) in enumerate(zip(results, probes))]


def decide(matches: list[tuple[str, float]], threshold: float | None, source: str) -> Identification:
    """One probe's answer from its ranked (identity, score) matches: the best identity when its score is
    accepted (``score >= threshold``, :func:`lrface.inference.threshold.accepts`), else "unknown"."""
    from .inference.threshold import accepts

    best = matches[0][1] if matches else None
    name = matches[0][0] if matches and accepts(best, threshold) else UNKNOWN
    return Identification(name, best, [Match(n, s) for n, s in matches], threshold, source)


def _as_list(images) -> list:
    """One image (path, bytes, H x W x 3 array) or a sequence of them -> a list."""
    if isinstance(images, (str, Path, bytes)) or (isinstance(images, np.ndarray) and images.ndim == 3):
        return [images]
    return list(images)


def _with_probe(r: Identification, probe: str) -> Identification:
    return Identification(r.identity, r.score, r.matches, r.threshold, r.threshold_source, probe)


def _explicit(threshold: float | None) -> tuple[float | None, str]:
    import math

    if threshold is None:
        return None, NO_THRESHOLD
    if not math.isfinite(threshold):
        raise UserError(f"threshold {threshold} is not a finite number; pass a cosine score such as 0.5")
    return float(threshold), "given (--threshold / threshold=)"


def _as_gallery(gallery) -> Gallery:
    return gallery if isinstance(gallery, Gallery) else Gallery.open(gallery)


class Gallery:
    """A gallery directory (FAISS index + SQLite metadata) of enrolled identities.

    Reads use the generation on disk when the object was opened or last refreshed (:meth:`refresh`
    picks up generations written since, e.g. by `lrface gallery add`); every change is written as a
    new generation under the gallery's writer lock, so concurrent readers never see half an update."""

    def __init__(self, path: str | Path, core=None):
        from .inference.gallery import Gallery as Core
        from .inference.gallery_store import generation_stamp

        self.path = Path(path)
        self._stamp = generation_stamp(self.path)
        self.core = core if core is not None else Core.open(self.path)
        self._recognizer: Recognizer | None = None
        self._writable = None  # (stamp, in-memory writable copy) of the generation this object last wrote

    # -- opening ---------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | Path) -> Gallery:
        return cls(path)

    @classmethod
    def create(cls, path: str | Path, recognizer: Recognizer | None = None, template: str = "mean",
               index: str = "flat", exist_ok: bool = False) -> Gallery:
        """A new empty gallery at ``path`` bound to ``recognizer``'s model (default: the packaged model)."""
        from .inference.gallery import Gallery as Core
        from .inference.gallery_store import is_gallery, writer_lock

        path = Path(path)
        if is_gallery(path):
            if exist_ok:
                return cls.open(path)
            raise UserError(f"{path} is already a gallery; open it with Gallery.open, or remove it first")
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise UserError(f"{path} exists and is not an empty directory; choose a new gallery path")
        recognizer = recognizer or Recognizer()
        core = Core.new(recognizer.embedder, template, index)
        with writer_lock(path):
            core.save(path)
        g = cls(path)
        g._recognizer = recognizer
        return g

    @classmethod
    def wrap(cls, core, path: str | Path | None = None) -> Gallery:
        """This API over an already opened :class:`lrface.inference.gallery.Gallery`."""
        return cls(path or core.root, core)

    def refresh(self) -> bool:
        """Re-open when a newer generation has been published; True when it changed."""
        from .inference.gallery import Gallery as Core
        from .inference.gallery_store import generation_stamp

        stamp = generation_stamp(self.path)
        if stamp == self._stamp:
            return False
        for attempt in range(5):  # a writer may publish again (and drop our files) while we read
            try:
                core = Core.open(self.path)
                break
            except UserError:
                if attempt == 4:
                    raise
                stamp = generation_stamp(self.path)
        self.core, self._stamp = core, stamp
        return True

    # -- contents --------------------------------------------------------------------------
    @property
    def info(self) -> dict:
        return self.core.info

    @property
    def calibration(self) -> dict | None:
        return self.core.info.get("calibration")

    def identities(self) -> dict[str, int]:
        """identity -> number of samples, by name."""
        return dict(self.core.identities())

    def __len__(self) -> int:
        return self.core.count_identities()

    def recognizer(self) -> Recognizer:
        """A Recognizer for the gallery's model (the recorded path, else the packaged default)."""
        if self._recognizer is None:
            recorded = Path(self.core.info["model_path"])
            self._recognizer = Recognizer(recorded if recorded.is_file() else None)
            self.check_model(self._recognizer)
        return self._recognizer

    def check_model(self, recognizer: Recognizer) -> None:
        self.core.check_model(recognizer.embedder)

    # -- thresholds and search -------------------------------------------------------------
    def threshold(self, explicit: float | None = None, kind: str = "identify", core=None) -> tuple[float | None, str]:
        """(threshold, where it came from): ``explicit``, else the calibrated ``kind`` threshold (of ``core``, a
        generation already in use, by default the current one), else none."""
        if explicit is not None:
            return _explicit(explicit)
        cal = (core or self.core).info.get("calibration")
        if cal and cal.get(f"{kind}_threshold") is not None:
            return float(cal[f"{kind}_threshold"]), (f"gallery calibration (FAR {cal['far']:g} on {cal['identities']} "
                                                     f"identities, {cal['date']})")
        return None, NO_THRESHOLD

    def search(self, embeddings: np.ndarray, top_k: int = 5, threshold: float | None = None) -> list[Identification]:
        """Identifications of L2-normalised embeddings (the decision shared by the CLI, API and service)."""
        if top_k < 1:
            raise UserError("top_k must be at least 1")
        core = self.core  # one generation for the whole call
        value, source = self.threshold(threshold, core=core)
        return [decide(m, value, source) for m in core.search(embeddings, top_k)]

    # -- changes ---------------------------------------------------------------------------
    def add(self, identity: str, images: ImageLike | list[ImageLike], recognizer: Recognizer | None = None,
            skip_bad: bool = False, warn=None, max_pixels: int | None = None) -> Enrolment:
        """Enrol images of ``identity`` (contents already enrolled are not added again). A bad image raises
        BadImage, or with ``skip_bad`` is skipped (named in ``skipped``)."""
        return self.add_many({identity: images}, recognizer, skip_bad, warn, max_pixels)[0]

    def add_many(self, groups: dict[str, ImageLike | list[ImageLike]], recognizer: Recognizer | None = None,
                 skip_bad: bool = False, warn=None, max_pixels: int | None = None) -> list[Enrolment]:
        """:meth:`add` for several identities, written as one new generation. Images are decoded and embedded
        before the writer lock is taken; UserError (gallery unchanged) when none of them could be used."""
        from .inference.enrol import decode_samples
        from .inference.folders import check_identity_name

        recognizer = recognizer or self.recognizer()
        self.check_model(recognizer)
        decoded = {}
        for identity, images in groups.items():
            identity = check_identity_name(identity)
            images = _as_list(images)
            if not images:
                raise UserError(f"no images to add for {identity!r}")
            decoded[identity] = decode_samples(images, lambda im, name: recognizer.load(im, name, max_pixels),
                                               self.core.known_hashes, skip_bad, warn or (lambda _m: None))
        if not any(d.images or d.duplicates for d in decoded.values()):
            bad = sum(len(d.bad) for d in decoded.values())
            raise UserError(f"none of the {bad} images could be used (unreadable{', faceless' * recognizer.embedder.align}"
                            " or too small); gallery unchanged")
        vectors = {n: recognizer.embedder.embed(d.images) for n, d in decoded.items() if d.images}

        def edit(g) -> dict[str, int]:
            return {n: g.add(n, decoded[n].files, decoded[n].hashes, v, aligned=recognizer.embedder.align)
                    for n, v in vectors.items()}

        added = self._change(edit) if vectors else {}
        return [Enrolment(n, added.get(n, 0), d.duplicates + len(d.images) - added.get(n, 0), len(d.bad), d.bad)
                for n, d in decoded.items()]

    def remove(self, identity: str) -> int:
        """Remove an identity and its samples; returns how many samples were removed."""
        return self._change(lambda g: g.remove(identity))

    def calibrate(self, far: float = 0.01, seed: int = 0) -> dict:
        """Choose and store the identify/verify thresholds at false-alarm rate ``far`` (see
        :mod:`lrface.inference.calibrate` for the method); returns the stored record."""
        from .inference.calibrate import calibrate

        return self._change(lambda g: calibrate(g, far, seed))

    def _change(self, edit):
        """Apply ``edit`` to the newest generation under the writer lock and publish the result."""
        from .inference.gallery import Gallery as Core
        from .inference.gallery_store import generation_stamp, writer_lock

        with writer_lock(self.path):
            stamp = generation_stamp(self.path)
            cached, self._writable = self._writable, None  # dropped unless this edit is saved
            g = cached[1] if cached is not None and cached[0] == stamp else Core.open(self.path, writable=True)
            result = edit(g)
            g.save(self.path)
            self._writable = (generation_stamp(self.path), g)  # the next edit skips re-reading what we wrote
        self.refresh()
        return result
