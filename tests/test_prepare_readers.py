"""lrface.prep and `lrface prepare`: alignment, the folder/UMDFaces/UCCS readers, real data."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from lrface.data.packed import read_packed_set

pytest.importorskip("skimage.data")

from lrface.prep.align import align_face, canonical_order, similarity_matrix, template  # noqa: E402
from lrface.prep.options import PrepareConfig  # noqa: E402
from lrface.prep.pipeline import prepare  # noqa: E402
from lrface.prep.readers import read_folder, read_uccs  # noqa: E402
from tests.conftest import shared_data  # noqa: E402
from tests.prepare_helpers import assert_one_line_error, items_csv, paste, run_cli, save  # noqa: E402

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
