"""Enrolment: image files -> decoded, embedded, de-duplicated samples of a gallery (torch-free unless
the embedder aligns photos)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..imageio import BadImage
from .gallery import Gallery

WARNING = "warning: skipped "  # before a BadImage message, for each image left out


def file_hash(path: str | Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def source_of(image) -> tuple[str, str | None]:
    """(what the gallery records as the sample's file, its content hash): a resolved path, or
    ``upload:<hash prefix>`` for bytes and arrays; hash None when a file cannot be read (decoding says why)."""
    import hashlib

    if isinstance(image, (str, Path)):
        try:
            return str(Path(image).resolve()), file_hash(image)
        except OSError:
            return str(image), None
    data = bytes(image) if isinstance(image, (bytes, bytearray, memoryview)) else np.ascontiguousarray(image).tobytes()
    digest = hashlib.sha256(data).hexdigest()
    return f"upload:{digest[:16]}", digest


@dataclass
class AddReport:
    added: int = 0
    duplicates: int = 0
    bad: int = 0
    conflicts: int = 0


@dataclass
class Decoded:
    """One identity's images ready to add: new ones decoded, known contents counted, bad ones named."""

    files: list[str] = field(default_factory=list)
    hashes: list[str] = field(default_factory=list)
    images: list[np.ndarray] = field(default_factory=list)
    duplicates: int = 0
    bad: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)


def decode_samples(
    images: list, load, known_hashes, skip_bad: bool = True, warn=print, identity: str | None = None
) -> Decoded:
    """Hash ``images`` (paths, bytes or arrays), skip contents already enrolled (``known_hashes(hashes)``: hash ->
    identity) or repeated, decode the rest with ``load(image, name)``; a BadImage is skipped with a warning
    (``skip_bad``) or raised. A content enrolled as another identity than ``identity`` is a conflict: one image
    cannot be two people, so it is not added and a warning names both."""
    out = Decoded()
    sources = [source_of(im) for im in images]
    known = known_hashes([h for _, h in sources if h is not None])
    for i, (im, (label, h)) in enumerate(zip(images, sources)):
        if h is not None and (h in known or h in out.hashes):
            out.duplicates += 1
            if identity is not None and known.get(h, identity) != identity:
                out.conflicts.append(f"{label} is already enrolled as {known[h]!r}")
                warn(
                    f"warning: not added to {identity!r}: {out.conflicts[-1]} (one image cannot be two people; "
                    "remove it from the wrong identity's images)"
                )
            continue
        try:
            out.images.append(load(im, str(im) if isinstance(im, (str, Path)) else f"image {i}"))
        except BadImage as e:
            if not skip_bad:
                raise
            warn(f"{WARNING}{e}")
            out.bad.append(str(e))
            continue
        out.files.append(label)
        out.hashes.append(h)
    return out


def add_files(gallery: Gallery, embedder, identity: str, files: list[Path], warn=print) -> AddReport:
    """Hash, decode (bad files, and photos without a face when aligning, are skipped with a warning),
    embed and add one identity's files to an in-memory gallery."""
    d = decode_samples(files, lambda f, _name: embedder.load(f), gallery.known_hashes, True, warn, identity)
    added = (
        gallery.add(identity, d.files, d.hashes, embedder.embed(d.images), aligned=embedder.align) if d.images else 0
    )
    return AddReport(added, d.duplicates + len(d.images) - added, len(d.bad), len(d.conflicts))


def build_from_folder(
    folder: Path, embedder, template: str = "mean", index_type: str = "flat", warn=print, progress=None
) -> tuple[Gallery, AddReport]:
    """A gallery (in memory) from an identity folder; the index is built once at the end."""
    from .folders import scan_identity_folder

    tree = scan_identity_folder(folder)
    n_files = sum(len(v) for v in tree.values())
    if progress:
        progress(f"embedding {n_files} images of {len(tree)} identities from {folder}")
    gallery = Gallery.new(embedder, template, index_type, expected=len(tree) if template == "mean" else n_files)
    total, skipped = AddReport(), []  # warnings wait until something is usable: a failure stays one line
    with gallery.bulk():
        for name, files in tree.items():
            r = add_files(gallery, embedder, name, files, skipped.append)
            total.added, total.duplicates, total.bad, total.conflicts = (
                total.added + r.added,
                total.duplicates + r.duplicates,
                total.bad + r.bad,
                total.conflicts + r.conflicts,
            )
        if gallery.count_identities() == 0:
            raise UserError(
                f"{folder}: none of the {n_files} images could be used"
                f"{' (unreadable or no face found)' if embedder.align else ''}"
                f"{f' (first: {skipped[0].removeprefix(WARNING)})' if skipped else ''}; nothing to build"
            )
    for m in skipped:
        warn(m)
    if gallery.count_identities() == 1:
        warn(
            "warning: the gallery has a single identity, so every probe matches it; use --threshold "
            "to answer 'unknown' for strangers"
        )
    return gallery, total
