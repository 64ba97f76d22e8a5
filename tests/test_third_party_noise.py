"""Native libraries write to the process's stderr directly (libpng, FAISS); lrface keeps them quiet so
that every message on stderr is lrface's own line."""

from __future__ import annotations

import zlib

import cv2
import numpy as np
import pytest

from lrface.imageio import BadImage, read_image


def _png(rng) -> bytes:
    return cv2.imencode(".png", rng.integers(0, 255, (20, 20, 3), dtype=np.uint8))[1].tobytes()


def _chunk(kind: bytes, body: bytes) -> bytes:
    return len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")


def test_damaged_or_unusual_pngs_make_no_libpng_noise(tmp_path, capfd):
    rng = np.random.default_rng(0)
    good = _png(rng)
    i = good.find(b"IDAT")
    n = int.from_bytes(good[i - 4 : i], "big")
    bad_idat = bytearray(good)
    bad_idat[i + 10] ^= 0xFF  # stale CRC
    fixed = bytearray(bad_idat)
    fixed[i + 4 + n : i + 8 + n] = zlib.crc32(bytes(fixed[i : i + 4 + n])).to_bytes(4, "big")  # valid CRC, bad zlib
    iccp = good[:33] + _chunk(b"iCCP", b"icc\0\0" + zlib.compress(b"\0" * 200)) + good[33:]
    for name, data in (("crc", bad_idat), ("zlib", fixed), ("iccp", iccp), ("good", good)):
        (tmp_path / f"{name}.png").write_bytes(bytes(data))
    for name in ("crc", "zlib"):
        with pytest.raises(BadImage, match="corrupt"):
            read_image(tmp_path / f"{name}.png")
    assert read_image(tmp_path / "iccp.png").shape == (20, 20, 3)
    assert np.array_equal(read_image(tmp_path / "good.png"), cv2.imdecode(np.frombuffer(good, np.uint8), 1)[..., ::-1])
    assert "libpng" not in capfd.readouterr().err


def test_a_small_ivf_index_trains_without_a_faiss_warning(capfd):
    from lrface.inference.vector_index import fill_index, new_index

    vectors = np.random.default_rng(0).normal(size=(4, 8)).astype(np.float32)
    index = new_index("ivf", 8, {"nlist": 1, "nprobe": 1})
    fill_index(index, "ivf", vectors, np.arange(4))
    assert index.ntotal == 4 and "WARNING" not in capfd.readouterr().err
