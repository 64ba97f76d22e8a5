"""data_prep and `lrface prepare`: alignment, readers, degradation, bad input, resume, real data."""

from __future__ import annotations

import csv
import io
import os
import shutil
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lrface.cli import main
from lrface.data.packed import is_packed_set, read_packed_set

skimage_data = pytest.importorskip("skimage.data")

from data_prep import pipeline  # noqa: E402
from data_prep.align import align_face, canonical_order, similarity_matrix, template  # noqa: E402
from data_prep.options import PrepareConfig  # noqa: E402
from data_prep.pipeline import prepare  # noqa: E402
from data_prep.readers import read_folder, read_uccs  # noqa: E402
from tests.conftest import shared_data  # noqa: E402


@pytest.fixture(scope="module")
def detector():
    from data_prep.detect import FaceDetector

    return FaceDetector()


@pytest.fixture(scope="module")
def astronaut(detector):
    """The astronaut image and its MTCNN landmarks (5 x 2, template order)."""
    image = skimage_data.astronaut()
    faces = detector.detect([image], [20])[0]
    assert len(faces) == 1
    return image, canonical_order(faces.points[0])


def paste(astronaut, canvas=(300, 400), at=(60, 40), scale=1.0, tint=0):
    """A canvas (H, W) with the astronaut's face region pasted at ``at``: (image, 5 points, box x y w h)."""
    image, points = astronaut
    x0, y0, side = 150, 40, 160
    face = Image.fromarray(image[y0 : y0 + side, x0 : x0 + side]).resize((round(side * scale),) * 2, Image.BILINEAR)
    out = np.full((*canvas, 3), 90 + tint, np.uint8)
    out[at[1] : at[1] + face.height, at[0] : at[0] + face.width] = np.asarray(face)
    pts = (points - [x0, y0]) * (face.width / side) + at
    box = (pts[:, 0].min() - 20 * scale, pts[:, 1].min() - 30 * scale, 80 * scale, 100 * scale)
    return out, pts, box


def save(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def run_cli(argv, capsys):
    rc = main(argv)
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def items_csv(out: Path) -> list[dict]:
    with open(out / "items.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def assert_one_line_error(rc, err, *needles):
    lines = [ln for ln in err.strip().splitlines() if ln]
    assert rc == 2 and len(lines) == 1, err
    for n in needles:
        assert n in lines[0], lines[0]


# --- alignment ---------------------------------------------------------------------------------


def test_similarity_recovers_a_known_transform():
    t = template(112)
    angle, scale, shift = 0.3, 1.7, np.array([40.0, 25.0])
    rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    pts = t @ rot.T + shift
    m = similarity_matrix(pts[[1, 0, 2, 4, 3]] if pts[0, 0] > pts[1, 0] else pts)
    mapped = canonical_order(pts) @ m[:, :2].T + m[:, 2]
    assert np.abs(mapped - t).max() < 0.05


def test_astronaut_eyes_land_on_template(astronaut, detector):
    image, points = astronaut
    crop = align_face(image, points, 112)
    assert crop.shape == (112, 112, 3)
    again = detector.detect([crop], [20])[0]
    assert len(again) >= 1
    found = canonical_order(again.points[int(np.argmax(again.probs))])
    assert np.abs(found[:2] - template(112)[:2]).max() < 4.0, found[:2]


# --- real data ---------------------------------------------------------------------------------


def test_celeba_wild_photos_mostly_aligned(tmp_path):
    root = shared_data("celeba-wild-dev/photos")
    items = read_folder(root)
    assert len(items) == 40
    result = prepare(items, tmp_path / "set", PrepareConfig(workers=1), kind="folder", root=root, progress=False)
    assert result.counts["aligned"] >= 36, result.counts
    assert read_packed_set(tmp_path / "set").splits["all"][0].shape == (40, 16, 16, 3)


def test_orl_end_to_end_cli(tmp_path, capsys):
    root = shared_data("orl")
    out = tmp_path / "orl16"
    rc, stdout, err = run_cli(
        ["prepare", "folder", str(root), "--out", str(out), "--split-fraction", "0.2", "--workers", "1"], capsys
    )
    assert rc == 0, err
    ps = read_packed_set(out)
    assert ps.image_size == 16 and len(ps.class_names) == 40
    assert {k: len(v[1]) for k, v in ps.splits.items()} == {"train": 320, "test": 80}
    rows = items_csv(out)
    assert sum(r["status"] == "aligned" for r in rows) >= 390
    assert (out / "preview.png").is_file() and not (out / ".work").exists()
    assert "kept 400" in stdout
    # every identity is in both splits, labels match the identity column
    for _name, (_, labels) in ps.splits.items():
        assert len(set(labels.tolist())) == 40
    r = next(r for r in rows if r["split"] == "test")
    assert ps.class_names[int(r["label"])] == r["identity"]


# --- readers with generated fixtures ----------------------------------------------------------

UMD_HEADER = (
    ["SUBJECT_ID", "FILE", "FACE_X", "FACE_Y", "FACE_WIDTH", "FACE_HEIGHT", "YAW", "PITCH", "ROLL"]
    + [f"P{k}{a}" for k in range(1, 22) for a in "XY"]
    + [f"VIS{k}" for k in range(1, 22)]
    + ["PR_MALE"]
)


def write_umd(root: Path, rows: list[dict], header=UMD_HEADER) -> Path:
    batch = root / "umdfaces_batch1"
    batch.mkdir(parents=True, exist_ok=True)
    with open(batch / "umdfaces_batch1_ultraface.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=header, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({h: r.get(h, 0) for h in header})
    return root


def umd_row(subject, file, pts, box, visible=True):
    row = {
        "SUBJECT_ID": subject,
        "FILE": file,
        "FACE_X": box[0],
        "FACE_Y": box[1],
        "FACE_WIDTH": box[2],
        "FACE_HEIGHT": box[3],
        "PR_MALE": 0.9,
    }
    for j, k in enumerate((8, 11, 15, 18, 20)):  # AFLW order: eye centres, nose centre, mouth corners
        row[f"P{k}X"], row[f"P{k}Y"], row[f"VIS{k}"] = pts[j][0], pts[j][1], int(visible)
    return row


def test_umdfaces_landmarks_and_detection_agree(tmp_path, astronaut, capsys):
    root = tmp_path / "umd"
    rows = []
    for k, (subject, at, scale) in enumerate(
        [("anna", (40, 30), 1.0), ("anna", (150, 90), 0.8), ("bob", (100, 60), 1.2), ("bob", (20, 20), 0.9)]
    ):
        img, pts, box = paste(astronaut, at=at, scale=scale, tint=k)
        save(root / "umdfaces_batch1" / subject / f"{k}.jpg", img)
        rows.append(umd_row(k + 1, f"{subject}/{k}.jpg", pts, box, visible=k != 3))
    rows.append(umd_row(9, "../escape.jpg", pts, box))
    write_umd(root, rows)
    save(root / "escape.jpg", img)
    out = tmp_path / "set"
    rc, stdout, err = run_cli(["prepare", "umdfaces", str(root), "--out", str(out), "--workers", "1"], capsys)
    assert rc == 0, err
    status = {r["source"]: r["status"] for r in items_csv(out)}
    assert status["umdfaces_batch1/../escape.jpg"] == "skipped:outside-root"
    assert all(
        status[f"umdfaces_batch1/{s}/{k}.jpg"] == "aligned" for k, s in enumerate(["anna", "anna", "bob", "bob"])
    )
    ps = read_packed_set(out)
    assert ps.class_names == ["anna", "bob"]
    images = np.asarray(ps.splits["all"][0], np.float32)
    # the same face aligned from CSV landmarks (0..2) and by detection inside the box (3) look alike
    ref = images[:3].mean(axis=0)
    assert np.abs(images[3] - ref).mean() < 12, np.abs(images[3] - ref).mean()
    assert np.abs(images[:3] - ref).mean() < 12


def test_umdfaces_missing_column_is_named(tmp_path, astronaut, capsys):
    root = write_umd(tmp_path / "umd", [], header=[h for h in UMD_HEADER if h != "P8X"])
    rc, _, err = run_cli(["prepare", "umdfaces", str(root), "--out", str(tmp_path / "o")], capsys)
    assert_one_line_error(rc, err, "'P8X'", "umdfaces_batch1_ultraface.csv")


UCCS_GAL = [
    "SUBJECT_ID",
    "FILE",
    "REYE_X",
    "REYE_Y",
    "LEYE_X",
    "LEYE_Y",
    "NOSE_X",
    "NOSE_Y",
    "RMOUTH_X",
    "RMOUTH_Y",
    "LMOUTH_X",
    "LMOUTH_Y",
]
UCCS_VAL = ["FACE_ID", "FILE", "SUBJECT_ID", "FACE_X", "FACE_Y", "FACE_WIDTH", "FACE_HEIGHT"]


def write_csv(path: Path, header, rows):
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)


def make_uccs(root: Path, astronaut, subjects=(1, 2), faces_per_subject=2) -> Path:
    """gallery: 2 aligned-by-landmark images per subject; validation: 2 faces per frame, one unknown."""
    gal, val, fid = [], [], 0
    for s in subjects:
        for k in range(2):
            img, pts, _ = paste(astronaut, canvas=(220, 220), at=(20 + 10 * k, 20), scale=1.0, tint=5 * s + k)
            save(root / "gallery_images" / f"{s:04d}" / f"{s:04d}_{k}.png", img)
            gal.append([s, f"{s:04d}_{k}.png", *pts.reshape(-1).round(2)])
        for k in range(faces_per_subject):
            frame = np.full((400, 700, 3), 70, np.uint8)
            a, _, box_a = paste(astronaut, canvas=(400, 700), at=(30 + 7 * k, 50), scale=0.9, tint=s + k)
            b, _, box_b = paste(astronaut, canvas=(400, 700), at=(400, 120), scale=0.7, tint=s + k)
            frame[:, :350], frame[:, 350:] = a[:, :350], b[:, 350:]
            name = f"frame_{s}_{k}.jpg"
            save(root / "validation_images" / name, frame)
            val.append([fid, name, s, *np.round(box_a, 1)])
            val.append([fid + 1, name, -1, *np.round(box_b, 1)])
            fid += 2
    write_csv(root / "gallery.csv", UCCS_GAL, gal)
    write_csv(root / "validation.csv", UCCS_VAL, val)
    return root


def test_uccs_gallery_and_validation(tmp_path, astronaut, capsys):
    root = make_uccs(tmp_path / "uccs", astronaut)
    with open(root / "validation.csv", "a", newline="") as fh:
        csv.writer(fh).writerow([99, "../../etc/passwd", 1, 10, 10, 50, 50])
    (root / "exclude_gallery_validation.txt").write_text("2\n")
    out = tmp_path / "set"
    rc, stdout, err = run_cli(
        ["prepare", "uccs", str(root), "--out", str(out), "--split-fraction", "0.5", "--workers", "1"], capsys
    )
    assert rc == 0, err
    rows = {r["source"]: r for r in items_csv(out)}
    assert rows["0001_0.png"]["status"] == "aligned" and rows["0002_1.png"]["identity"] == "0002"
    assert rows["frame_1_0.jpg#0"]["status"] == "aligned"
    assert rows["frame_1_0.jpg#1"]["status"] == "skipped:unknown-subject"
    assert rows["frame_1_1.jpg#2"]["status"] == "skipped:excluded"
    assert rows["../../etc/passwd#99"]["status"] == "skipped:outside-root"
    ps = read_packed_set(out)
    assert ps.class_names == ["0001", "0002"] and set(ps.splits) == {"train", "test"}
    assert len(ps.splits["train"][1]) + len(ps.splits["test"][1]) == 7


def test_uccs_paper_protocol(tmp_path, astronaut, capsys):
    root = make_uccs(tmp_path / "uccs", astronaut, subjects=(1, 2, 3, 4), faces_per_subject=4)
    items = read_uccs(root, protocol="paper-180", seed=3, n_subjects=3, test_fraction=0.25)
    subjects = sorted({it.identity for it in items})
    assert len(subjects) == 3 and all(it.box is not None for it in items)
    for s in subjects:
        assert [it.split for it in items if it.identity == s].count("test") == 1
    assert [it.split for it in read_uccs(root, "paper-180", 3, 3, 0.25)] == [it.split for it in items]
    result = prepare(items, tmp_path / "p", PrepareConfig(workers=1), kind="uccs/paper-180", root=root, progress=False)
    assert result.splits == {"train": 9, "test": 3}
    rc, _, err = run_cli(
        ["prepare", "uccs", str(root), "--out", str(tmp_path / "o"), "--protocol", "paper-180"], capsys
    )
    assert_one_line_error(rc, err, "180", "found 4")
    write_csv(root / "validation.csv", UCCS_VAL[:-1], [])
    rc, _, err = run_cli(["prepare", "uccs", str(root), "--out", str(tmp_path / "o")], capsys)
    assert_one_line_error(rc, err, "'FACE_HEIGHT'")


# --- bad input ---------------------------------------------------------------------------------


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


# --- degradation, determinism and resume -------------------------------------------------------


def test_degradation_seeded_and_configurable(tmp_path, astronaut):
    root = tmp_path / "faces"
    for k in range(3):
        save(root / "ann" / f"{k}.png", paste(astronaut, canvas=(200, 200), at=(20 + 5 * k, 20), tint=k)[0])
    items = read_folder(root)

    def run(name, **kw):
        prepare(items, tmp_path / name, PrepareConfig(workers=1, **kw), kind="folder", root=root, progress=False)
        return np.asarray(read_packed_set(tmp_path / name).splits["all"][0])

    plain, noisy, noisy2, other = (
        run("p"),
        run("n", blur=1.5, noise=12, jpeg_quality=40),
        run("n2", blur=1.5, noise=12, jpeg_quality=40),
        run("o", blur=1.5, noise=12, jpeg_quality=40, seed=1),
    )
    assert np.array_equal(noisy, noisy2) and not np.array_equal(noisy, other)
    assert 2 < np.abs(noisy.astype(float) - plain).mean() < 40
    big = run("big", size=48, downsample="bicubic")
    assert big.shape == (3, 48, 48, 3)


def test_interrupted_run_resumes_without_redoing_work(tmp_path, astronaut, monkeypatch):
    root = tmp_path / "faces"
    for k in range(12):
        save(root / f"id{k % 3}" / f"{k}.png", paste(astronaut, canvas=(180, 180), at=(5 + k, 10), tint=k)[0])
    items = read_folder(root)
    cfg = dict(workers=1, batch_size=4, chunk_size=4, split_fraction=0.25)
    reference = prepare(items, tmp_path / "ref", PrepareConfig(**cfg), "folder", root, progress=False)
    assert reference.processed == 12

    real_save, saved = pipeline.save_chunk, []

    def save_then_die(path, *a):
        if len(saved) == 2:
            raise KeyboardInterrupt  # killed while the third chunk was in flight
        real_save(path, *a)
        saved.append(path)

    monkeypatch.setattr(pipeline, "save_chunk", save_then_die)
    out = tmp_path / "set"
    with pytest.raises(KeyboardInterrupt):
        prepare(items, out, PrepareConfig(**cfg), "folder", root, progress=False)
    assert not is_packed_set(out) and len(list((out / ".work").glob("chunk_*.npz"))) == 2
    monkeypatch.setattr(pipeline, "save_chunk", real_save)
    result = prepare(items, out, PrepareConfig(**cfg), "folder", root, progress=False)
    assert (result.resumed, result.processed) == (8, 4)
    a, b = read_packed_set(tmp_path / "ref"), read_packed_set(out)
    for name in ("train", "test"):
        assert np.array_equal(a.splits[name][0], b.splits[name][0])
        assert np.array_equal(a.splits[name][1], b.splits[name][1])
    assert (tmp_path / "ref" / "items.csv").read_text() == (out / "items.csv").read_text()
    assert not (out / ".work").exists()


@pytest.mark.parametrize("damage", ["truncated", "garbage", "wrong-length"])
def test_a_damaged_work_chunk_is_redone(tmp_path, astronaut, monkeypatch, damage):
    root = tmp_path / "faces"
    for k in range(8):
        save(root / f"id{k % 2}" / f"{k}.png", paste(astronaut, canvas=(180, 180), at=(5 + k, 10), tint=k)[0])
    items = read_folder(root)
    cfg = dict(workers=1, batch_size=4, chunk_size=4, split_fraction=0.25)
    real_save = pipeline.save_chunk

    def save_then_die(path, *a):
        real_save(path, *a)
        raise KeyboardInterrupt  # killed after the first chunk was saved

    monkeypatch.setattr(pipeline, "save_chunk", save_then_die)
    out = tmp_path / "set"
    with pytest.raises(KeyboardInterrupt):
        prepare(items, out, PrepareConfig(**cfg), "folder", root, progress=False)
    monkeypatch.setattr(pipeline, "save_chunk", real_save)
    chunk = out / ".work" / "chunk_00000.npz"
    data = chunk.read_bytes()
    if damage == "truncated":
        chunk.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        chunk.write_bytes(b"PK\x03\x04" + os.urandom(300))
    else:
        with np.load(chunk) as z:
            parts = dict(z)
        parts["low"] = parts["low"][:1]
        np.savez(open(chunk, "wb"), **parts)
    result = prepare(items, out, PrepareConfig(**cfg), "folder", root, progress=False)
    assert (result.resumed, result.processed) == (0, 8) and len(read_packed_set(out).splits["train"][1]) == 6


def test_kill_9_mid_run_then_rerun_completes(tmp_path, astronaut):
    root = tmp_path / "faces"
    for k in range(40):
        save(
            root / f"id{k % 4}" / f"{k}.png",
            paste(astronaut, canvas=(160, 160), at=(k % 9, k % 7), scale=0.9, tint=k)[0],
        )
    out = tmp_path / "set"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    argv = [
        sys.executable,
        "-m",
        "lrface.cli",
        "prepare",
        "folder",
        str(root),
        "--out",
        str(out),
        "--workers",
        "1",
        "--batch-size",
        "4",
    ]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(1200):  # kill -9 once the run has started its work directory
            if proc.poll() is not None or (out / ".work" / "run.json").exists():
                break
            time.sleep(0.05)
        time.sleep(0.5)
        assert proc.poll() is None, "the first run ended before the kill; the test would prove nothing"
        proc.kill()
    finally:
        proc.wait()
    assert proc.returncode == -9 and not is_packed_set(out) and (out / ".work" / "run.json").exists()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    ps = read_packed_set(out)
    assert len(ps.splits["all"][1]) == 40 and not (out / ".work").exists()


def test_command_module_imports_only_argparse():
    code = (
        "import sys, lrface.commands.prepare; "
        "bad = [m for m in ('torch', 'data_prep', 'albumentations', 'cv2') if m in sys.modules]; "
        "assert not bad, bad"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_albumentations_makes_no_network_call_on_import():
    """albumentations checks PyPI for updates on import unless NO_ALBUMENTATIONS_UPDATE is set;
    importing lrface or data_prep first must turn that off (training machines are often offline)."""
    code = (
        "import urllib.request\n"
        "calls = []\n"
        "def spy(self, url, *a, **k):\n"
        "    calls.append(getattr(url, 'full_url', url)); raise OSError('offline')\n"
        "urllib.request.OpenerDirector.open = spy\n"
        "import data_prep.degrade, lrface.data.augment\n"
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
    from data_prep.detect import FaceDetector

    det = FaceDetector(batch_size=2)
    found = det.detect([np.zeros((16, 16, 3), np.uint8), np.zeros((11, 400, 3), np.uint8)], [20, 12])
    assert [len(f) for f in found] == [0, 0]
