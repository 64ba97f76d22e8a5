"""Model identity (torch-free): the sha256 of an ONNX file is the model's fingerprint for integrity.

Packaged models' cards record it (``tools/card_hashes.py --write``), so a damaged or swapped packaged
file is refused when it is loaded; a gallery records the sha256 of the model it was built with, so a gallery
is only searched with that very file (user-supplied models included). Hashing costs ~3 ms per MB and is
done once per process per file state (path, size, mtime, inode, ctime).
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

from .errors import Damaged, UserError

_HASHES: dict[tuple, str] = {}
_LOCK = threading.Lock()
CHUNK = 1 << 20


def _state(path: Path) -> tuple:
    st = path.stat()
    return (str(path), st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 (hex) of the file at ``path``, cached while the file is unchanged; UserError when unreadable."""
    path = Path(path).resolve()
    try:
        key = _state(path)
        with _LOCK:
            if key in _HASHES:
                return _HASHES[key]
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            while block := fh.read(CHUNK):
                h.update(block)
    except OSError as e:
        raise UserError(
            f"{path}: cannot read the model file ({e.strerror or e}); check the path and permissions"
        ) from None
    digest = h.hexdigest()
    with _LOCK:
        _HASHES[key] = digest
    return digest


def check_embeddings(out, path: Path) -> None:
    """An exported model's embeddings are L2-normalised: Damaged when any is not finite or not of unit length
    (a damaged model file gives NaN, all-zero or unnormalised vectors, never a silent answer)."""
    import numpy as np

    norms = np.linalg.norm(out, axis=1)
    bad = ~np.isfinite(norms) | (np.abs(norms - 1.0) > 1e-2)
    if bad.any():
        raise Damaged(
            f"{path}: the model gave {int(bad.sum())} of {len(out)} embeddings that are not finite unit vectors "
            f"(norm {float(norms[bad][0]):.4g}): the model file is damaged; reinstall lrface for a packaged model, "
            "else re-run `lrface export --onnx RUN_DIR`"
        )
