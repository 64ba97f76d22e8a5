"""Enrolment: image files -> decoded, embedded, de-duplicated samples of a gallery (torch-free unless
the embedder aligns photos)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from ..imageio import BadImage
from .gallery import Gallery


def file_hash(path: str | Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass
class AddReport:
    added: int = 0
    duplicates: int = 0
    bad: int = 0


def add_files(gallery: Gallery, embedder, identity: str, files: list[Path], warn=print) -> AddReport:
    """Hash, decode (bad files, and photos without a face when aligning, are skipped with a warning),
    embed and add one identity's files."""
    report = AddReport()
    hashes = [file_hash(f) for f in files]
    known = gallery.known_hashes(hashes)
    images, keep_files, keep_hashes = [], [], []
    for f, h in zip(files, hashes):
        if h in known or h in keep_hashes:
            report.duplicates += 1
            continue
        try:
            images.append(embedder.load(f))
        except BadImage as e:
            warn(f"warning: skipped {e}")
            report.bad += 1
            continue
        keep_files.append(str(Path(f).resolve()))
        keep_hashes.append(h)
    if images:
        report.added = gallery.add(identity, keep_files, keep_hashes, embedder.embed(images), aligned=embedder.align)
    return report


def build_from_folder(folder: Path, embedder, template: str = "mean", index_type: str = "flat",
                      warn=print, progress=None) -> tuple[Gallery, AddReport]:
    """A gallery (in memory) from an identity folder; the index is built once at the end."""
    from .folders import scan_identity_folder

    tree = scan_identity_folder(folder)
    n_files = sum(len(v) for v in tree.values())
    if progress:
        progress(f"embedding {n_files} images of {len(tree)} identities from {folder}")
    gallery = Gallery.new(embedder, template, index_type, expected=len(tree) if template == "mean" else n_files)
    total = AddReport()
    with gallery.bulk():
        for name, files in tree.items():
            r = add_files(gallery, embedder, name, files, warn)
            total.added, total.duplicates, total.bad = total.added + r.added, total.duplicates + r.duplicates, total.bad + r.bad
        if gallery.count_identities() == 0:
            raise UserError(f"{folder}: none of the {n_files} images could be used"
                            f"{' (unreadable or no face found)' if embedder.align else ''}; nothing to build")
    if gallery.count_identities() == 1:
        warn("warning: the gallery has a single identity, so every probe matches it; use --threshold "
             "to answer 'unknown' for strangers")
    return gallery, total
