"""The one identity-folder scanner (train, prepare, gallery and evaluate see the same images) and the one
identity-name check."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from lrface.errors import UserError
from lrface.inference.folders import MAX_NAME_CHARS, check_identity_name, scan_identity_folder


def _tree(root):
    for rel in ("a/1.png", "a/nested/2.png", "b/3.png", "b/.hidden/4.png"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((20, 20, 3), 10 * len(rel), np.uint8)).save(root / rel)
    return root


def test_nested_folders_count_the_same_in_prepare_train_and_gallery(tmp_path, monkeypatch):
    from lrface.data.sources import load_identity_folder
    from lrface.prep.readers import read_folder

    monkeypatch.setenv("LRFACE_CACHE", str(tmp_path / "cache"))
    root = _tree(tmp_path / "faces")
    tree = scan_identity_folder(root)
    assert {k: [p.relative_to(root).as_posix() for p in v] for k, v in tree.items()} == {
        "a": ["a/1.png", "a/nested/2.png"],
        "b": ["b/3.png"],
    }
    assert [(i.identity, i.key) for i in read_folder(root)] == [
        ("a", "a/1.png"),
        ("a", "a/nested/2.png"),
        ("b", "b/3.png"),
    ]
    images, labels, names, _ = load_identity_folder(root, 16, use_cache=False)
    assert names == ["a", "b"] and labels.tolist() == [0, 0, 1] and images.shape == (3, 16, 16, 3)


def test_a_looping_link_named_like_an_image_is_one_line(tmp_path):
    root = _tree(tmp_path / "faces")
    os.symlink(root / "a" / "loop.jpg", root / "a" / "loop.jpg")
    with pytest.raises(UserError, match="loop.jpg: a broken or looping link"):
        scan_identity_folder(root)


def test_an_unreadable_identity_folder_is_one_line(tmp_path, monkeypatch):
    root = _tree(tmp_path / "faces")
    real = os.scandir

    def scandir(path):
        if str(path).endswith(os.sep + "b"):
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    with pytest.raises(UserError, match=r"b: cannot read the folder \(Permission denied\)"):
        scan_identity_folder(root)


def test_identity_names_are_at_most_255_characters():
    """The one name check (gallery build/add/remove, the API, the service) refuses an enormous name in one
    short line; 255 characters, like a file-name component, still pass."""
    assert MAX_NAME_CHARS == 255
    assert check_identity_name("é" * 255) == "é" * 255
    assert check_identity_name("e\u0301" * 255) == "é" * 255  # counted after NFC, as stored
    for n in (256, 10_000):
        with pytest.raises(UserError) as e:
            check_identity_name("x" * n)
        msg = str(e.value)
        assert f"is {n} characters long; use a name of at most 255" in msg and "\n" not in msg and len(msg) < 120
