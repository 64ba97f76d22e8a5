"""Tampering for the integrity checks (the fault sweep and tests/test_*integrity*, test_metadata_schema): overwrite
an ONNX file's weights in place (bytes only, metadata untouched) and publish a gallery generation whose metadata
or vectors were edited (sizes consistent, so only the schema and value checks can notice)."""

from __future__ import annotations

import io
import json
import os
import shutil
import sqlite3
from pathlib import Path

import numpy as np


def flip_weights(src: Path, dst: Path, fill: bytes | None = None) -> Path:
    """Copy ``src`` to ``dst`` with the bytes of its largest initializer overwritten: with ``fill`` repeated
    (b"\\xff": NaN weights), else each byte XOR 0x01 (small wrong weights). File size and metadata unchanged."""
    import onnx

    data = bytearray(Path(src).read_bytes())
    raw = max((t.raw_data for t in onnx.load_from_string(bytes(data)).graph.initializer), key=len)
    at = bytes(data).find(raw)
    assert at > 0 and len(raw) > 64
    data[at : at + len(raw)] = (fill * len(raw))[: len(raw)] if fill else bytes(b ^ 1 for b in raw)
    Path(dst).write_bytes(bytes(data))
    return Path(dst)


def republish(g: Path, info: dict | None = None, vectors=None) -> None:
    """Publish a new generation of gallery ``g``: the current files copied, ``info`` rows (key -> raw JSON text)
    set in the metadata, ``vectors(array) -> array`` applied to the flat vectors; pointer sizes updated."""
    ptr = json.loads((g / "gallery.json").read_text())
    gen = os.urandom(6).hex()
    names = {
        k: ptr[k].split("-")[0] + f"-{gen}." + ptr[k].split(".")[-1] for k in ("index", "meta", "flat") if k in ptr
    }
    for k, new in names.items():
        shutil.copy(g / ptr[k], g / new)
    with sqlite3.connect(g / names["meta"]) as conn:
        for key, text in (info or {}).items():
            conn.execute("INSERT OR REPLACE INTO info VALUES (?, ?)", (key, text))
    conn.close()
    if vectors is not None:
        with np.load(g / names["flat"]) as z:
            ids, vecs = z["ids"], vectors(z["vectors"].copy())
        buf = io.BytesIO()
        np.savez(buf, ids=ids, vectors=vecs)
        (g / names["flat"]).write_bytes(buf.getvalue())
    ptr.update(names)
    ptr["sizes"] = {new: (g / new).stat().st_size for new in names.values()}
    (g / "gallery.json").write_text(json.dumps(ptr))
