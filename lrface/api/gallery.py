"""`Gallery`: a gallery directory through the API: read one generation, write new ones under the lock."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..checks import path_arg
from ..errors import UserError, WrongType
from ..fileio import check_output, claim_output
from .recognizer import ImageLike, Recognizer, as_list, as_recognizer
from .results import NO_THRESHOLD, Enrolment, Identification, decide, explicit_threshold


class Gallery:
    """A gallery directory (FAISS index + SQLite metadata) of enrolled identities.

    Reads use the generation on disk when the object was opened or last refreshed (:meth:`refresh`
    picks up generations written since, e.g. by `lrface gallery add`); every change is written as a
    new generation under the gallery's writer lock, so concurrent readers never see half an update."""

    def __init__(self, path: str | Path, core=None):
        from ..inference.gallery import Gallery as Core
        from ..inference.gallery_store import generation_stamp

        self.path = path_arg(path, "gallery path")
        self._stamp = generation_stamp(self.path)
        self.core = core if core is not None else Core.open(self.path)
        self._recognizer: Recognizer | None = None
        self._writable = None  # (stamp, in-memory writable copy) of the generation this object last wrote

    # -- opening ---------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | Path) -> Gallery:
        return cls(path)

    @classmethod
    def create(
        cls,
        path: str | Path,
        recognizer: Recognizer | None = None,
        template: str = "mean",
        index: str = "flat",
        exist_ok: bool = False,
    ) -> Gallery:
        """A new empty gallery at ``path`` bound to ``recognizer``'s model (default: the packaged model)."""
        from ..inference.gallery import Gallery as Core
        from ..inference.gallery_store import is_gallery, writer_lock

        path = path_arg(path, "gallery path")
        recognizer = as_recognizer(recognizer)
        if exist_ok and is_gallery(path):  # opening needs no write access
            return cls.open(path)
        check_output(path, "dir", label="gallery path")
        with claim_output(path, "gallery path"):  # a second create of the same new gallery is refused
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
        from ..inference.gallery import Gallery as Core
        from ..inference.gallery_store import generation_stamp

        stamp = generation_stamp(self.path)
        if stamp == self._stamp:
            return False
        core = Core.open(self.path)  # at least the generation of ``stamp``: a newer one only means one more refresh
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
            return explicit_threshold(explicit)
        cal = (core or self.core).info.get("calibration")
        if cal and cal.get(f"{kind}_threshold") is not None:
            from ..inference.calibrate import below_measurable

            n = cal.get(f"{kind}_impostor_scores" if kind == "identify" else "verify_impostor_pairs")
            far = f"FAR {cal['far']:g}" + (
                f" requested, below the {1 / n:.2g} that its {n} impostor scores can measure"
                if below_measurable(cal["far"], n or 0)
                else ""
            )
            source = f"gallery calibration ({far} on {cal['identities']} identities, {cal['date']})"
            if "changed" in cal:
                now = cal["changed"]
                source += (
                    f"; stale: the gallery now holds {now['identities']} identities, {now['samples']} samples, and "
                    f"FAR {cal['far']:g} holds only for what was calibrated: re-run `lrface gallery calibrate "
                    f"{self.path} --far {cal['far']:g}`"
                )
            return float(cal[f"{kind}_threshold"]), source
        return None, NO_THRESHOLD

    def calibrated_far(self) -> float | None:
        """The false-alarm rate the stored thresholds were calibrated at, or None when uncalibrated."""
        cal = self.core.info.get("calibration")
        return float(cal["far"]) if cal and cal.get("far") is not None else None

    def search(self, embeddings: np.ndarray, top_k: int = 5, threshold: float | None = None) -> list[Identification]:
        """Identifications of embeddings, N x D (each L2-normalised here: scores are cosines); the decision shared
        by the CLI, API and service."""
        if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)):
            raise WrongType(f"top_k={top_k!r}: pass a whole number, at least 1")
        if top_k < 1:
            raise UserError(f"top_k={top_k!r}: pass a whole number, at least 1")
        embeddings = self._queries(embeddings)
        core = self.core  # one generation for the whole call
        value, source = self.threshold(threshold, core=core)
        return [decide(m, value, source) for m in core.search(embeddings, top_k)]

    def _queries(self, embeddings) -> np.ndarray:
        """``embeddings`` as L2-normalised float32 N x D of the gallery's D; WrongType / UserError naming what is
        off (a zero vector has no direction to compare)."""
        if not isinstance(embeddings, np.ndarray) or not np.issubdtype(embeddings.dtype, np.floating):
            what = embeddings.dtype if isinstance(embeddings, np.ndarray) else type(embeddings).__name__
            raise WrongType(f"embeddings: pass a float numpy array N x D (from Recognizer.embed), got {what}")
        dim = self.core.dim
        if embeddings.ndim != 2 or embeddings.shape[1] != dim:
            raise UserError(
                f"embeddings are {embeddings.shape}; this gallery searches N x {dim} (its model's size): embed with "
                "the gallery's model, Recognizer(gallery.model_path)"
            )
        if not np.isfinite(embeddings).all():
            raise UserError("embeddings hold NaN or infinite values; embed the images again")
        norms = np.linalg.norm(embeddings.astype(np.float64), axis=1, keepdims=True)
        if (norms < 1e-6).any():
            raise UserError(
                f"embedding {int(np.argmax(norms[:, 0] < 1e-6))} is all zeros (no direction); embed the images again"
            )
        return (embeddings / norms).astype(np.float32)

    # -- changes ---------------------------------------------------------------------------
    def add(
        self,
        identity: str,
        images: ImageLike | list[ImageLike],
        recognizer: Recognizer | None = None,
        skip_bad: bool = False,
        warn=None,
        max_pixels: int | None = None,
    ) -> Enrolment:
        """Enrol images of ``identity`` (contents already enrolled are not added again). A bad image raises
        BadImage, or with ``skip_bad`` is skipped (named in ``skipped``)."""
        return self.add_many({identity: images}, recognizer, skip_bad, warn, max_pixels)[0]

    def add_many(
        self,
        groups: dict[str, ImageLike | list[ImageLike]],
        recognizer: Recognizer | None = None,
        skip_bad: bool = False,
        warn=None,
        max_pixels: int | None = None,
    ) -> list[Enrolment]:
        """:meth:`add` for several identities, written as one new generation. Names are checked first (keys
        equal after Unicode NFC are one identity: their images are merged); images are decoded and embedded
        before the writer lock is taken; UserError (gallery unchanged) when none of them could be used."""
        from ..inference.enrol import decode_samples
        from ..inference.folders import check_identity_name, claim_name

        if not isinstance(groups, Mapping):
            raise WrongType(f"groups: pass a dict identity -> images, got a {type(groups).__name__}")
        merged: dict[str, list] = {}
        for identity, images in groups.items():
            identity = check_identity_name(identity)
            images = as_list(images)
            if not images:
                raise UserError(f"no images to add for {identity!r}")
            merged.setdefault(identity, []).extend(images)
        keys = self.core.name_keys()
        for identity in merged:  # before any decoding: a refused name costs no embedding
            claim_name(identity, keys)
        recognizer = as_recognizer(recognizer) or self.recognizer()
        self.check_model(recognizer)
        skipped: list[str] = []  # warnings wait until something is usable: a failure stays one line
        decoded, pending = {}, {}  # pending: content hash -> identity, of this call's earlier groups

        def known(hashes: list[str]) -> dict[str, str]:
            return {**{h: pending[h] for h in hashes if h in pending}, **self.core.known_hashes(hashes)}

        for identity, images in merged.items():
            d = decode_samples(
                images,
                lambda im, name: recognizer.load(im, name, max_pixels),
                known,
                skip_bad,
                skipped.append,
                identity,
            )
            decoded[identity] = d
            pending.update(dict.fromkeys(d.hashes, identity))
        if not any(d.images or d.duplicates for d in decoded.values()):
            bad = [b for d in decoded.values() for b in d.bad]
            raise UserError(
                f"none of the {len(bad)} images could be used (unreadable{', faceless' * recognizer.embedder.align}"
                f" or too small; first: {bad[0] if bad else '-'}); gallery unchanged"
            )
        for m in skipped if warn else ():
            warn(m)
        vectors = {n: recognizer.embedder.embed(d.images) for n, d in decoded.items() if d.images}

        def edit(g) -> dict[str, int]:
            g.check_model(recognizer.embedder)  # the newest generation may have been rebuilt with another model
            return {
                n: g.add(n, decoded[n].files, decoded[n].hashes, v, aligned=recognizer.embedder.align)
                for n, v in vectors.items()
            }

        added = self._change(edit) if vectors else {}
        return [
            Enrolment(
                n, added.get(n, 0), d.duplicates + len(d.images) - added.get(n, 0), len(d.bad), d.bad, d.conflicts
            )
            for n, d in decoded.items()
        ]

    def remove(self, identity: str) -> int:
        """Remove an identity and its samples; returns how many samples were removed."""
        return self._change(lambda g: g.remove(identity))

    def calibrate(self, far: float = 0.01, seed: int = 0) -> dict:
        """Choose and store the identify/verify thresholds at false-alarm rate ``far`` (see
        :mod:`lrface.inference.calibrate` for the method); returns the stored record."""
        from ..inference.calibrate import calibrate

        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise WrongType(f"seed={seed!r}: pass a whole number")
        return self._change(lambda g: calibrate(g, far, seed))

    def _change(self, edit):
        """Apply ``edit`` to the newest generation under the writer lock and publish the result."""
        from ..inference.gallery import Gallery as Core
        from ..inference.gallery_store import generation_stamp, writer_lock

        with writer_lock(self.path):
            stamp = generation_stamp(self.path)
            cached, self._writable = self._writable, None  # dropped unless this edit is saved
            g = cached[1] if cached is not None and cached[0] == stamp else Core.open(self.path, writable=True)
            result = edit(g)
            g.save(self.path)
            self._writable = (generation_stamp(self.path), g)  # the next edit skips re-reading what we wrote
        self.refresh()
        return result
