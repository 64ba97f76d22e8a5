"""`lrface prepare` on bad input: broken and odd images, one-line errors, no face, tiny images;
what the command imports."""

from __future__ import annotations

import io
import os
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lrface.data.packed import is_packed_set, read_packed_set

pytest.importorskip("skimage.data")

from tests.prepare_helpers import assert_one_line_error, items_csv, paste, run_cli, save  # noqa: E402


def huge_png(path: Path, w=8000, h=8000):
    """A PNG header announcing w x h (64 MP) - enough for the size check."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + chunk(b"IEND", b"")
    )


def test_bad_inputs_recorded_and_odd_modes_kept(tmp_path, astronaut, capsys):
    root = tmp_path / "faces"
    good, _, _ = paste(astronaut, canvas=(240, 240), at=(40, 40))
    save(root / "ann" / "good.jpg", good)
    save(root / "ann" / "good2.png", paste(astronaut, canvas=(240, 240), at=(30, 50), tint=10)[0])
    (root / "ann" / "zero.jpg").write_bytes(b"")
    buf = io.BytesIO()
    Image.fromarray(good).save(buf, "JPEG")
    (root / "ann" / "truncated.jpg").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 3])
    (root / "ann" / "text.png").write_text("not an image")
    huge_png(root / "ann" / "huge.png")
    pil = Image.fromarray(good)
    pil.convert("L").save(root / "bea" / "gray.png") if (root / "bea").mkdir() is None else None
    pil.convert("RGBA").save(root / "bea" / "rgba.png")
    pil.convert("CMYK").save(root / "bea" / "cmyk.jpg")
    pil.convert("P").save(root / "bea" / "palette.png")
    Image.fromarray(np.asarray(pil.convert("L")).astype(np.uint16) * 257).save(root / "bea" / "sixteen.png")
    shutil.copy(root / "ann" / "good.jpg", root / "cid" / "copy.jpg") if (root / "cid").mkdir() is None else None
    save(root / "dan" / "single.png", paste(astronaut, canvas=(200, 260), at=(50, 20), tint=20)[0])
    out = tmp_path / "set"
    rc, stdout, err = run_cli(
        [
            "prepare",
            "folder",
            str(root),
            "--out",
            str(out),
            "--workers",
            "2",
            "--batch-size",
            "4",
            "--split-fraction",
            "0.3",
        ],
        capsys,
    )
    assert rc == 0, err
    status = {r["source"]: r["status"] for r in items_csv(out)}
    assert status["ann/zero.jpg"] == "skipped:empty"
    assert status["ann/truncated.jpg"] == "skipped:corrupt"
    assert status["ann/text.png"] == "skipped:not-an-image"
    assert status["ann/huge.png"] == "skipped:too-large"
    assert status["cid/copy.jpg"] == "skipped:duplicate"
    for name in ("gray.png", "rgba.png", "cmyk.jpg", "palette.png", "sixteen.png"):
        assert status[f"bea/{name}"] == "aligned", (name, status[f"bea/{name}"])
    assert status["dan/single.png"] == "aligned"
    assert "single image" in err and "dan" in err
    assert "skipped 5" in stdout and "duplicate 1" in stdout
    ps = read_packed_set(out)
    assert ps.class_names == ["ann", "bea", "dan"]


def test_user_errors_are_one_line(tmp_path, astronaut, capsys):
    empty = tmp_path / "empty"
    (empty / "someone").mkdir(parents=True)
    (empty / "someone" / "notes.txt").write_text("x")
    rc, _, err = run_cli(["prepare", "folder", str(empty), "--out", str(tmp_path / "o")], capsys)
    assert_one_line_error(rc, err, "no identity sub-folders with images")
    rc, _, err = run_cli(["prepare", "folder", str(tmp_path / "nope"), "--out", str(tmp_path / "o")], capsys)
    assert_one_line_error(rc, err, "no such directory")
    root = tmp_path / "faces"
    save(root / "ann" / "a.png", paste(astronaut, canvas=(200, 200), at=(20, 20))[0])
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "thesis.txt").write_text("precious")
    rc, _, err = run_cli(["prepare", "folder", str(root), "--out", str(busy)], capsys)
    assert_one_line_error(rc, err, "not a packed set", "--force")
    assert (busy / "thesis.txt").read_text() == "precious" and not is_packed_set(busy)
    rc, _, err = run_cli(["prepare", "folder", str(root), "--out", str(tmp_path / "o"), "--size", "100"], capsys)
    assert_one_line_error(rc, err, "--size")
    rc, _, err = run_cli(
        [
            "prepare",
            "folder",
            str(root),
            "--out",
            str(busy),
            "--force",
            "--size",
            "8",
            "--no-detect-fallback",
            "skip",
            "--workers",
            "1",
        ],
        capsys,
    )
    assert rc == 0, err
    assert read_packed_set(busy).image_size == 8 and (busy / "thesis.txt").read_text() == "precious"


def test_no_face_fallback_box_or_skip(tmp_path, capsys):
    root = tmp_path / "faces"
    rng = np.random.default_rng(0)
    for k in range(2):
        save(root / "noise" / f"{k}.png", (rng.random((120, 100, 3)) * 255).astype(np.uint8))
    rc, stdout, err = run_cli(["prepare", "folder", str(root), "--out", str(tmp_path / "a"), "--workers", "1"], capsys)
    assert rc == 0 and {r["status"] for r in items_csv(tmp_path / "a")} == {"box-only"}
    rc, _, err = run_cli(
        [
            "prepare",
            "folder",
            str(root),
            "--out",
            str(tmp_path / "b"),
            "--no-detect-fallback",
            "skip",
            "--workers",
            "1",
        ],
        capsys,
    )
    assert_one_line_error(rc, err, "no face kept")


def test_command_module_imports_only_argparse():
    code = (
        "import sys, lrface.commands.prepare; "
        "bad = [m for m in ('torch', 'lrface.prep', 'albumentations', 'cv2') if m in sys.modules]; "
        "assert not bad, bad"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_albumentations_makes_no_network_call_on_import():
    """albumentations checks PyPI for updates on import unless NO_ALBUMENTATIONS_UPDATE is set;
    importing lrface or lrface.prep first must turn that off (training machines are often offline)."""
    code = (
        "import urllib.request\n"
        "calls = []\n"
        "def spy(self, url, *a, **k):\n"
        "    calls.append(getattr(url, 'full_url', url)); raise OSError('offline')\n"
        "urllib.request.OpenerDirector.open = spy\n"
        "import lrface.prep.degrade, lrface.data.augment\n"
        "assert not calls, calls\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "NO_ALBUMENTATIONS_UPDATE"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-500:]


def test_tiny_and_degenerate_images_are_skipped_and_counted(tmp_path, astronaut, capsys):
    """1x1 and 5000x1 are skipped as too small, a 16x16 crop goes through MTCNN (no crash) to the box
    fallback; the run ends normally and items.csv counts each."""
    root = tmp_path / "faces"
    save(root / "a" / "face.png", paste(astronaut, canvas=(200, 200), at=(20, 20))[0])
    rng = np.random.default_rng(0)
    for name, shape in (("dot", (1, 1)), ("line", (1, 5000)), ("crop", (16, 16))):
        save(root / "b" / f"{name}.png", rng.integers(0, 255, (*shape, 3), dtype=np.uint8))
    rc, _, err = run_cli(["prepare", "folder", str(root), "--out", str(tmp_path / "o"), "--workers", "1"], capsys)
    assert rc == 0, err
    status = {r["source"]: r["status"] for r in items_csv(tmp_path / "o")}
    assert status == {
        "a/face.png": "aligned",
        "b/crop.png": "box-only",
        "b/dot.png": "skipped:too-small",
        "b/line.png": "skipped:too-small",
    }
    assert "2 images with a side under 4 px" in err and "Traceback" not in err


def test_detector_finds_no_face_in_images_below_its_window():
    from lrface.prep.detect import FaceDetector

    det = FaceDetector(batch_size=2)
    found = det.detect([np.zeros((16, 16, 3), np.uint8), np.zeros((11, 400, 3), np.uint8)], [20, 12])
    assert [len(f) for f in found] == [0, 0]
