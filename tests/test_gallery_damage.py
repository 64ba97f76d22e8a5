"""Gallery metadata damage: a corrupted SQLite page is reported with the fix, never read as a smaller gallery."""

from __future__ import annotations

import numpy as np
import pytest
from serving_helpers import generated_faces, write_identity_folder

from lrface.cli import main
from lrface.errors import UserError
from lrface.inference.gallery import Gallery


@pytest.mark.parametrize("template", ["mean", "all"])
@pytest.mark.parametrize("fill", ["zeros", "random"])
def test_corrupt_sqlite_page_is_detected(tiny, tmp_path, capsys, template, fill):
    images, labels = generated_faces(n_ids=20, per_id=6, seed=3)
    folder = write_identity_folder(tmp_path / "faces", images, labels, [f"p{i:02d}" for i in range(20)])
    g = tmp_path / "g"
    assert (
        main(["gallery", "build", str(folder), "--model", str(tiny[1]), "--out", str(g), "--template", template]) == 0
    )
    meta = next(g.glob("meta-*.sqlite"))
    data = bytearray(meta.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    assert len(data) // page >= 4
    victim = len(data) // page // 2  # a page in the middle: table or index b-tree pages, not the header
    rng = np.random.default_rng(0)
    data[victim * page : (victim + 1) * page] = bytes(page) if fill == "zeros" else rng.bytes(page)
    meta.write_bytes(bytes(data))  # same size: the pointer's size check passes, the reader must notice
    for writable in (False, True):
        with pytest.raises(UserError, match="rebuild with `lrface gallery build"):
            Gallery.open(g, writable=writable)
    capsys.readouterr()
    for argv in (
        ["gallery", "list", str(g)],
        ["identify", str(next(folder.glob("p00/*.png"))), "--gallery", str(g)],
        ["gallery", "remove", str(g), "--identity", "p01"],
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and ("damaged gallery metadata" in err[0] or "corrupt gallery metadata" in err[0]), err
        assert "rebuild with `lrface gallery build" in err[0]


def test_metadata_missing_info_row_is_reported(tiny, tmp_path, capsys):
    import sqlite3

    images, labels = generated_faces(n_ids=3, per_id=3, seed=4)
    folder = write_identity_folder(tmp_path / "faces", images, labels, ["a", "b", "c"])
    g = tmp_path / "g"
    assert main(["gallery", "build", str(folder), "--model", str(tiny[1]), "--out", str(g)]) == 0
    meta = next(g.glob("meta-*.sqlite"))
    size = meta.stat().st_size
    with sqlite3.connect(meta) as conn:
        conn.execute("DELETE FROM info WHERE key = 'model_path'")
    assert meta.stat().st_size == size  # the pointer's size check still passes
    capsys.readouterr()
    assert main(["identify", str(next(folder.glob("a/*.png"))), "--gallery", str(g)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "info lacks model_path" in err[0] and "rebuild with" in err[0], err


class _FailingConnection:
    """Stands in for a read-only gallery's on-disk SQLite connection whose file was damaged after opening
    (with a small gallery SQLite serves every read from its cache, so the damage cannot be provoked for real)."""

    def execute(self, *args):
        raise __import__("sqlite3").DatabaseError("database disk image is malformed")


def test_metadata_damaged_after_opening_is_gallery_unreadable(tiny, tmp_path):
    from lrface.inference.gallery_store import GalleryUnreadable

    images, labels = generated_faces(n_ids=4, per_id=3, seed=1)
    folder = write_identity_folder(tmp_path / "faces", images, labels, [f"p{i}" for i in range(4)])
    g = tmp_path / "g"
    assert main(["gallery", "build", str(folder), "--model", str(tiny[1]), "--out", str(g)]) == 0
    gallery = Gallery.open(g)
    query = np.eye(1, gallery.index.d, dtype=np.float32)
    assert len(gallery.search(query, 2)[0]) == 2
    gallery.conn = _FailingConnection()
    with pytest.raises(GalleryUnreadable, match="metadata cannot be read.*rebuild with `lrface gallery build"):
        gallery.search(query, 2)
