"""An image far larger than a face crop, embedded without --align, is probably a photo: the API warns (a
:class:`lrface.errors.Hint`) and the CLI prints one ``warning:`` line after its answer - never beside an error's
one line, never for crop-sized images or with --align."""

from __future__ import annotations

import warnings

import cv2
import numpy as np
import pytest
from serving_helpers import generated_faces, run_cli, write_identity_folder

import lrface
from lrface.errors import Hint
from lrface.inference.embedder import PHOTO_FACTOR

NAMES = ["Ann", "Bob"]


def _big(path, side: int, seed: int = 0):
    rgb = np.random.default_rng(seed).integers(0, 255, (side, side, 3), np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), rgb)
    return path


def _run(capsys, *args) -> tuple[int, str, list[str]]:
    rc, out, err = run_cli(capsys, *args)
    return rc, out, err.splitlines()


def test_cli_prints_one_hint_after_the_answer(tiny, tmp_path, capsys):
    gal = write_identity_folder(tmp_path / "gal", *generated_faces(n_ids=2, per_id=3), NAMES)
    limit = PHOTO_FACTOR * 16
    crop, photo = _big(tmp_path / "crop.png", limit), _big(tmp_path / "photo.png", limit + 1)
    model = ["--gallery", gal, "--model", tiny[1]]

    rc, out, err = _run(capsys, "identify", crop, *model)
    assert rc == 0 and out.startswith(str(crop)) and not [e for e in err if "warning" in e]

    rc, out, err = _run(capsys, "identify", photo, photo, *model)
    hints = [e for e in err if "warning" in e]
    assert rc == 0 and out.count(str(photo)) == 2 and len(hints) == 1 and err[-1] == hints[0]
    assert hints[0].startswith(f"lrface identify: warning: {photo} is {limit + 1}x{limit + 1} pixels")
    assert "pass --align" in hints[0]

    (tmp_path / "bad.png").write_bytes(b"not an image")  # an error: its one line only
    rc, _, err = _run(capsys, "identify", photo, tmp_path / "bad.png", *model)
    assert rc == 2 and len(err) == 1 and "bad.png" in err[0] and "warning" not in err[0]


def test_api_warns_once_per_recognizer(tiny, tmp_path):
    photo = _big(tmp_path / "photo.png", PHOTO_FACTOR * 16 + 50)
    rec = lrface.Recognizer(tiny[1])
    with pytest.warns(Hint, match="photo.png is 178x178 pixels and was embedded whole") as caught:
        rec.embed([photo, photo])
    assert len(caught) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error", Hint)
        rec.embed([photo])  # this recognizer has said it
        lrface.Recognizer(tiny[1]).embed([_big(tmp_path / "crop.png", 64)])
