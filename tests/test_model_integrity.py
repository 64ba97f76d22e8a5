"""Model identity and integrity: packaged files are checked against the sha256 on their cards, damaged weights
never give silent answers, and a gallery is only searched with the very model file it was built with."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from serving_helpers import assert_one_line_error, cli, generated_faces, package_model, write_identity_folder

import lrface
from lrface import pretrained
from lrface.errors import Damaged, UserError
from lrface.inference.model_match import ModelMismatch
from lrface.model_integrity import file_sha256
from tools.fault_sweep.tamper import flip_weights


@pytest.fixture
def packaged(tiny, tmp_path, monkeypatch):
    """lrface/pretrained replaced by a folder holding the tiny student as packaged model 'tiny'."""
    root = tmp_path / "pretrained"
    package_model(root, tiny[1])
    monkeypatch.setattr(pretrained, "HERE", root)
    for fn in (pretrained.resolve_model, pretrained.list_models, pretrained.card_threshold):
        monkeypatch.setattr(fn, "__defaults__", (root,))
    return root


@pytest.fixture
def faces(tmp_path):
    images, labels = generated_faces(n_ids=3, per_id=3, size=32, seed=5)
    return write_identity_folder(tmp_path / "faces", images, labels, ["a", "b", "c"])


def test_the_shipped_cards_match_their_files():
    models = pretrained.list_models()
    if not models:
        pytest.skip("no packaged model in lrface/pretrained")
    for m in models:
        assert m.card["sha256"] == file_sha256(m.path), f"{m.name}: run python tools/card_hashes.py --write"
        assert m.card["size_bytes"] == m.path.stat().st_size and pretrained.integrity(m) == "ok"


def test_file_hash_is_cached_until_the_file_changes(tmp_path):
    f = tmp_path / "m.onnx"
    f.write_bytes(b"one")
    first = file_sha256(f)
    assert file_sha256(f) == first
    f.write_bytes(b"two")  # same size, new contents
    assert file_sha256(f) != first


@pytest.mark.parametrize("how", ["flipped", "swapped"])
def test_a_damaged_or_swapped_packaged_model_is_refused_everywhere(packaged, tiny, faces, tmp_path, capsys, how):
    onnx = packaged / "tiny.onnx"
    if how == "flipped":
        flip_weights(onnx, onnx)
    else:  # another model file in its place (same size, same metadata, other weights)
        shutil.copy(flip_weights(tiny[1], tmp_path / "other.onnx"), onnx)
    img = next(faces.glob("a/*.png"))
    capsys.readouterr()
    rc = cli("models")
    out = capsys.readouterr()
    assert rc == 2 and "DAMAGED" in out.out and out.err.count("\n") == 1 and "'tiny'" not in out.out
    assert "packaged model tiny: the file does not match the sha256 on its model card" in out.err
    for argv in (["embed", img, "--out", tmp_path / "e.npy"], ["verify", img, img], ["gallery", "build", faces]):
        assert_one_line_error(capsys, cli(*argv, *(["--out", tmp_path / "g"] if argv[1] == faces else [])), "damaged")
    assert not (tmp_path / "e.npy").exists() and not (tmp_path / "g").exists()
    with pytest.raises(Damaged, match="packaged model 'tiny' is damaged or was replaced"):
        lrface.Recognizer()


@pytest.mark.parametrize("fill", [b"\xff", b"\x00\x00\xc0\x7f"])  # NaN weights: all-ones bits, a quiet NaN
def test_nan_weights_never_give_an_answer(tiny, faces, tmp_path, capsys, fill):
    bad = flip_weights(tiny[1], tmp_path / "bad.onnx", fill)
    img = next(faces.glob("a/*.png"))
    with pytest.raises(Damaged, match="not finite unit vectors"):
        lrface.Recognizer(bad).embed(img)
    capsys.readouterr()
    assert_one_line_error(
        capsys, cli("verify", img, img, "--model", bad, "--threshold", "0.5"), "model file is damaged"
    )
    assert_one_line_error(capsys, cli("embed", img, "--model", bad, "--out", tmp_path / "e.npy"), "damaged")
    assert not (tmp_path / "e.npy").exists()


def test_a_gallery_refuses_a_changed_model_file(tiny, faces, tmp_path, capsys):
    model = shutil.copy(tiny[1], tmp_path / "student.onnx")
    g = tmp_path / "g"
    assert cli("gallery", "build", faces, "--model", model, "--out", g) == 0
    info = lrface.Gallery.open(g).info
    assert info["model_sha256"] == file_sha256(model) and info["lrface_version"] == lrface.__version__
    img = next(faces.glob("a/*.png"))
    flip_weights(model, model)  # the recorded model file changed: same metadata fingerprint, other bytes
    capsys.readouterr()
    for argv in (
        ["identify", img, "--gallery", g],
        ["verify", img, img, "--gallery", g],
        ["gallery", "add", g, "--identity", "d", img],
    ):
        assert_one_line_error(capsys, cli(*argv), "same weights fingerprint, other bytes")
    with pytest.raises(ModelMismatch, match="rebuild the gallery with this one"):
        lrface.Recognizer(model).identify(img, g)
    assert cli("gallery", "build", faces, "--model", model, "--out", g, "--force") == 0  # the fix it names
    assert cli("identify", img, "--gallery", g) == 0


def test_a_gallery_of_old_format_is_checked_on_the_weights_fingerprint(tiny, faces, tmp_path, capsys):
    """Galleries written before model_sha256 existed keep working with their model."""
    import sqlite3

    from tools.fault_sweep.tamper import republish

    g = tmp_path / "g"
    assert cli("gallery", "build", faces, "--model", tiny[1], "--out", g) == 0
    republish(g)
    meta = g / json.loads((g / "gallery.json").read_text())["meta"]
    with sqlite3.connect(meta) as conn:
        conn.execute("DELETE FROM info WHERE key = 'model_sha256'")
    conn.close()
    ptr = json.loads((g / "gallery.json").read_text())
    ptr["sizes"][meta.name] = meta.stat().st_size
    (g / "gallery.json").write_text(json.dumps(ptr))
    assert "model_sha256" not in lrface.Gallery.open(g).info
    assert cli("identify", next(faces.glob("a/*.png")), "--gallery", g) == 0


def test_embeddings_are_checked(tiny):
    from lrface.model_integrity import check_embeddings

    good = np.eye(3, dtype=np.float32)
    check_embeddings(good, tiny[1])
    for bad in (np.zeros((1, 3), np.float32), np.full((1, 3), np.nan, np.float32), 2 * good):
        with pytest.raises(Damaged):
            check_embeddings(bad, tiny[1])
    assert issubclass(Damaged, UserError)


def test_card_hashes_tool_checks_and_writes(tiny, tmp_path):
    import subprocess
    import sys

    from serving_helpers import REPO

    root = tmp_path / "pretrained"
    package_model(root, tiny[1])
    tool = [sys.executable, str(REPO / "tools" / "card_hashes.py"), "--root", str(root)]
    flip_weights(root / "tiny.onnx", root / "tiny.onnx")  # a replaced model whose card was not updated
    r = subprocess.run(tool, capture_output=True, text=True, check=False)
    assert r.returncode == 1 and "MISMATCH" in r.stdout, r
    assert subprocess.run([*tool, "--write"], capture_output=True, check=False).returncode == 0
    assert json.loads((root / "tiny.json").read_text())["sha256"] == file_sha256(root / "tiny.onnx")
    assert subprocess.run(tool, capture_output=True, check=False).returncode == 0
