"""`identify --all-faces --draw DIR` gives every input its own picture when names clash, and a video whose
header has no plausible frame rate is read at 25 fps with one warning naming the file and both rates."""

from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
from scene_helpers import background, gallery_folder

from lrface.cli import main
from lrface.commands.scenes import drawing_names
from lrface.errors import Hint
from lrface.inference.video import VideoSource, video_rate


@pytest.fixture(scope="module")
def gallery(tmp_path_factory):
    from lrface.inference.scenes import make_detector

    return gallery_folder(tmp_path_factory.mktemp("gallery"), make_detector())


def test_inputs_sharing_a_name_are_drawn_to_their_own_files(gallery, tmp_path, capsys):
    inputs = [tmp_path / "d1" / "photo.jpg", tmp_path / "d1" / "photo.png", tmp_path / "d2" / "photo.jpg"]
    for seed, f in enumerate(inputs):
        f.parent.mkdir(exist_ok=True)
        assert cv2.imwrite(str(f), background(60, 80, seed=seed))
    out = tmp_path / "drawn"
    args = ["identify", *map(str, inputs), "--gallery", str(gallery), "--all-faces", "--draw", str(out)]
    assert main(args) == 0
    drawn = sorted(p.name for p in out.iterdir())
    assert drawn == ["d1_photo_jpg.jpg", "d1_photo_png.jpg", "d2_photo.jpg"], drawn
    for f, name in zip(inputs, ["d1_photo_jpg.jpg", "d1_photo_png.jpg", "d2_photo.jpg"]):  # each its own input
        picture = cv2.imread(str(out / name)).astype(int)
        errors = [np.abs(picture - cv2.imread(str(g)).astype(int)).mean() for g in inputs]
        assert int(np.argmin(errors)) == inputs.index(f), errors


def test_drawing_names_keep_unique_stems_and_tell_folders_apart():
    names = drawing_names([Path("p1/0001.jpg"), Path("p2/0001.jpg"), Path("p2/sub/0001.jpg"), Path("p1/x.png")])
    assert list(names.values()) == ["p1_0001.jpg", "p2_0001.jpg", "p2_sub_0001.jpg", "x.jpg"]
    names = drawing_names(["a/x.jpg", "b/x.jpg", "a_x.jpg", "c/X.png"])  # clashes made by the renaming, and case
    assert len({n.lower() for n in names.values()}) == 4


def write_avi(path: Path, fps: float, frames: int = 6) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (64, 48))
    for k in range(frames):
        writer.write(np.full((48, 64, 3), 20 * k, np.uint8))
    writer.release()
    return path


def hints_of(make):
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        result = make()
    return result, [str(w.message) for w in seen if issubclass(w.category, Hint)]


def test_an_implausible_frame_rate_is_assumed_25_with_one_hint(tmp_path):
    path = write_avi(tmp_path / "fast.avi", 1000.0)
    if not cv2.VideoCapture(str(path)).get(cv2.CAP_PROP_FPS) >= 1000:
        pytest.skip("this OpenCV does not write a 1000 fps header")
    source, hints = hints_of(lambda: VideoSource(path, fps=5))
    frames, more = hints_of(lambda: list(source))
    assert source.rate == 25.0 and [f.time for f in frames] == [0.0, 0.2] and more == []
    [hint] = hints
    assert str(path) in hint and "1000" in hint and "assumed 25" in hint
    source, hints = hints_of(lambda: VideoSource(write_avi(tmp_path / "ok.avi", 10.0)))
    assert source.rate == 10.0 and hints == []
    source.capture.release()


def test_a_missing_frame_rate_is_assumed_25_with_one_hint():
    for reported in (0.0, float("nan"), None, 1e4):
        rate, [hint] = hints_of(lambda: video_rate(reported, "clip.avi"))  # noqa: B023
        assert rate == 25.0 and "clip.avi" in hint and "assumed 25" in hint
    assert hints_of(lambda: video_rate(29.97, "clip.avi")) == (29.97, [])


def test_the_cli_prints_the_rate_hint_after_the_answer(gallery, tmp_path, capsys):
    path = write_avi(tmp_path / "fast.avi", 1000.0, frames=2)
    assert main(["identify", str(path), "--gallery", str(gallery), "--json"]) == 0
    warned = [x for x in capsys.readouterr().err.splitlines() if x.startswith("lrface identify: warning:")]
    assert len(warned) == 1 and "fast.avi" in warned[0] and "1000" in warned[0], warned
