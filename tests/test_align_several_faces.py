"""`--align` on a photo of several people: the largest face is still used, but a Hint names the photo when
another face is about as large (the person meant may not be the largest), once per aligner."""

from __future__ import annotations

import warnings

import cv2
import numpy as np
import pytest
from serving_helpers import tiny_export

from lrface.cli import main
from lrface.detect import align_face, largest_face
from lrface.errors import Hint
from lrface.inference.align import SEVERAL_FACES_AREA, PhotoAligner

skimage_data = pytest.importorskip("skimage.data")


def astronaut_crop() -> np.ndarray:
    return skimage_data.astronaut()[20:220, 140:310]


def cameraman_crop(scale: float) -> np.ndarray:
    crop = np.repeat(skimage_data.camera()[70:240, 150:300, None], 3, axis=2)
    return cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)


def canvas(*crops: np.ndarray) -> np.ndarray:
    """The crops pasted side by side on a grey canvas: a group photo."""
    out = np.full((max(c.shape[0] for c in crops) + 40, sum(c.shape[1] + 20 for c in crops) + 20, 3), 90, np.uint8)
    x = 20
    for c in crops:
        out[20 : 20 + c.shape[0], x : x + c.shape[1]] = c
        x += c.shape[1] + 20
    return out


def hints_of(aligner: PhotoAligner, name: str, image: np.ndarray) -> tuple[np.ndarray, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        crop = aligner(name, image)
    return crop, [str(w.message) for w in caught if issubclass(w.category, Hint)]


def test_two_similar_faces_hint_once_and_the_largest_is_used():
    aligner, team = PhotoAligner(threads=1), canvas(astronaut_crop(), cameraman_crop(1.4))
    faces = aligner.detector.detect(team)
    assert len(faces) == 2 and min(f.area for f in faces) >= SEVERAL_FACES_AREA * max(f.area for f in faces)
    crop, hints = hints_of(aligner, "team.png", team)
    assert len(hints) == 1 and hints[0].startswith("team.png shows 2 faces of similar size; the largest was used")
    assert "crop the photo" in hints[0] and "--all-faces" in hints[0]
    assert np.array_equal(crop, align_face(team, largest_face(faces)))
    assert hints_of(aligner, "team2.png", team)[1] == []  # once per aligner: one line for a folder of photos


def test_one_face_or_a_small_second_face_gives_no_hint():
    aligner = PhotoAligner(threads=1)
    assert hints_of(aligner, "one.png", canvas(astronaut_crop()))[1] == []
    background = canvas(astronaut_crop(), cameraman_crop(0.6))
    assert len(aligner.detector.detect(background)) == 2  # the small face is found, and taken for the background
    assert hints_of(aligner, "background.png", background)[1] == []


def test_gallery_add_align_prints_the_hint_after_success(tmp_path, capsys):
    tiny = tiny_export(tmp_path / "tiny")[1]
    folder = tmp_path / "gal"
    photos = {
        "ann/team.png": canvas(astronaut_crop(), cameraman_crop(1.4)),
        "ann/one.png": canvas(astronaut_crop()),
        "bob/one.png": canvas(cameraman_crop(1.4)),
    }
    for rel, rgb in photos.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        assert cv2.imwrite(str(folder / rel), np.ascontiguousarray(rgb[..., ::-1]))
    assert main(["gallery", "build", str(folder), "--model", str(tiny), "--out", str(tmp_path / "g"), "--align"]) == 0
    hints = [line for line in capsys.readouterr().err.splitlines() if "gallery: warning:" in line]  # not training's
    assert hints == [
        f"lrface gallery: warning: {folder / 'ann' / 'team.png'} shows 2 faces of similar size; the largest was "
        "used, which may not be the person meant: crop the photo to one face (identify and embed read every face "
        "with --all-faces)"
    ]
