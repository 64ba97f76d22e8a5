"""`lrface prepare --hr-teacher dlib` on a few real faces: a first pass, and a pass that adds to a finished set."""

from __future__ import annotations

import importlib.util
import shutil
import sys

import numpy as np
import pytest

from lrface.data.packed import read_packed_set
from tests.conftest import shared_data
from tests.prepare_helpers import run_cli


def needs_hr_extra():
    """Skip unless dlib and dlib's weights (face_recognition_models, found without importing it) are installed."""
    pytest.importorskip("dlib")
    if importlib.util.find_spec("face_recognition_models") is None:
        pytest.skip('face-recognition-models is not installed (pip install -e ".[hr]")')


def _faces(tmp_path, identities=3, per_identity=2):
    src = shared_data("celeba-wild-dev/faces")
    root = tmp_path / "faces"
    for ident in sorted(p for p in src.iterdir() if p.is_dir())[:identities]:
        (root / ident.name).mkdir(parents=True)
        for f in sorted(ident.iterdir())[:per_identity]:
            shutil.copy(f, root / ident.name / f.name)
    return root


def test_hr_teacher_without_the_extra_names_the_pip_command(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "dlib", None)  # import dlib -> ImportError, as without the extra
    root = tmp_path / "faces" / "a"
    root.mkdir(parents=True)
    rc, _, err = run_cli(
        ["prepare", "folder", str(root.parent), "--out", str(tmp_path / "o"), "--hr-teacher", "dlib"], capsys
    )
    assert rc == 2 and "pip install" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()  # checked before any work


def test_prepare_adds_hr_embeddings_to_a_finished_set(tmp_path, capsys):
    needs_hr_extra()
    root, out = _faces(tmp_path), tmp_path / "set"
    rc, _, _ = run_cli(["prepare", "folder", str(root), "--out", str(out), "--workers", "1"], capsys)
    assert rc == 0 and read_packed_set(out).hr == {}
    low = read_packed_set(out, mmap=False).splits["all"][0].copy()
    rc, stdout, err = run_cli(
        ["prepare", "folder", str(root), "--out", str(out), "--workers", "1", "--hr-teacher", "dlib"], capsys
    )
    assert rc == 0, err
    assert "kept" not in stdout and "computed 6" in stdout and "faces/s" in stdout  # the set was not re-made
    ps = read_packed_set(out, mmap=False)
    np.testing.assert_array_equal(ps.splits["all"][0], low)
    hr, labels = ps.hr["all"], ps.splits["all"][1]
    assert ps.manifest["hr_teacher"]["name"] == "dlib-resnet-v1" and hr.shape == (6, 128) and hr.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(hr, axis=1), 1.0, atol=1e-5)
    sim = hr @ hr.T
    same = labels[:, None] == labels[None, :]
    off = ~np.eye(len(labels), dtype=bool)
    assert sim[same & off].min() > sim[~same].max()  # the teacher tells these people apart at full resolution
    assert not (out / ".work-hr").exists()
    rc, stdout, _ = run_cli(["prepare", "folder", str(root), "--out", str(out), "--hr-teacher", "dlib"], capsys)
    assert rc == 0 and "nothing to do" in stdout


def test_first_prepare_with_hr_teacher_writes_both(tmp_path, capsys):
    needs_hr_extra()
    root, out = _faces(tmp_path, identities=2), tmp_path / "set"
    rc, stdout, err = run_cli(
        ["prepare", "folder", str(root), "--out", str(out), "--workers", "1", "--hr-teacher", "dlib"], capsys
    )
    assert rc == 0, err
    assert "kept 4" in stdout and "computed 4" in stdout
    assert read_packed_set(out).hr["all"].shape == (4, 128)
