"""Video: the tracker on given boxes, and `lrface identify VIDEO` on a tiny generated MJPG video whose two
people, their runs and identities are known; bad video input is one line and exit 2."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from scene_helpers import assert_cli_imports_no_torch, gallery_folder, write_video

from lrface.cli import main
from lrface.inference.tracking import Tracker, iou
from lrface.inference.video import Sampler


def unit(v):
    v = np.asarray(v, np.float64)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def test_iou():
    a = np.array([[0, 0, 10, 10]])
    assert np.allclose(iou(a, [[0, 0, 10, 10], [5, 0, 10, 10], [20, 20, 5, 5]]), [[1, 50 / 150, 0]])


def test_tracker_keeps_crossing_people_apart_by_appearance():
    """Two faces cross paths (their boxes overlap mid-way); the embeddings keep the tracks right."""
    a, b = unit([1, 0, 0.1]), unit([0, 1, 0.1])
    tracker, seen = Tracker(), {0: [], 1: []}
    for t in range(11):
        boxes = [[10 + 8 * t, 50, 30, 30], [90 - 8 * t, 52, 30, 30]]
        ids = tracker.update(t / 10, boxes, np.stack([a, b]), [0.9, 0.8])
        seen[0].append(ids[0]), seen[1].append(ids[1])
    assert len(set(seen[0])) == 1 and len(set(seen[1])) == 1 and seen[0][0] != seen[1][0]
    tracks = tracker.finish()
    assert [t.frames for t in tracks] == [11, 11] and tracks[0].end == 1.0
    assert np.allclose(tracks[0].pooled(), a) and tracks[0].first_box.tolist() == [10, 50, 30, 30]


def test_tracker_closes_lost_tracks_and_starts_new_ones():
    e = unit([[1, 0], [0, 1]])
    tracker = Tracker(max_misses=2)
    first = tracker.update(0.0, [[0, 0, 20, 20]], e[:1])
    for k in range(1, 4):
        tracker.update(k, [], np.zeros((0, 2)))
    assert [t.id for t in tracker.take_closed()] == first and tracker.active == []
    far = tracker.update(5.0, [[0, 0, 20, 20], [200, 0, 20, 20]], e)
    assert len(set(far)) == 2 and first[0] not in far


def test_sampler():
    s = Sampler(25, every=3)
    assert [i for i in range(10) if s.keep(i)] == [0, 3, 6, 9]
    s = Sampler(30, fps=10)
    assert [i for i in range(10) if s.keep(i)] == [0, 3, 6, 9]


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    from lrface.inference.scenes import make_detector

    base = tmp_path_factory.mktemp("video")
    video = base / "clip.avi"
    truth = write_video(video)
    return gallery_folder(base / "gallery", make_detector()), video, truth


def test_video_tracks_identities_and_drawn_video(clip, tmp_path, capsys):
    gallery, video, truth = clip
    out = tmp_path / "drawn.avi"
    assert main(["identify", str(video), "--gallery", str(gallery), "--json", "--draw", str(out)]) == 0
    tracks = json.loads(capsys.readouterr().out)
    assert len(tracks) == 2, tracks
    by_name = {t["identity"]: t for t in tracks}
    for want in truth:
        got = by_name[want["identity"]]
        assert got["frames"] == want["frames"] and got["start"] == want["start"]
        assert got["end"] == pytest.approx(want["end"]) and len(got["box"]) == 4 and "track" in got
    drawn = cv2.VideoCapture(str(out))
    assert int(drawn.get(cv2.CAP_PROP_FRAME_COUNT)) == truth[0]["frames"]
    drawn.release()
    assert not list(tmp_path.glob(".*tmp*"))


def test_video_path_imports_no_torch(clip):

    gallery, video, _ = clip
    assert_cli_imports_no_torch(["identify", video, "--gallery", gallery, "--json", "--every", "4"])


def test_sampling_every_and_fps(clip, capsys):
    gallery, video, truth = clip
    assert main(["identify", str(video), "--gallery", str(gallery), "--json", "--every", "3"]) == 0
    tracks = json.loads(capsys.readouterr().out)
    assert sorted(t["frames"] for t in tracks) == [4, 4]  # frames 0, 3, 6, 9 of 12
    assert main(["identify", str(video), "--gallery", str(gallery), "--json", "--fps", "5"]) == 0
    assert sorted(t["frames"] for t in json.loads(capsys.readouterr().out)) == [6, 6]  # 10 fps source


def test_folder_of_frames(clip, tmp_path, capsys):
    gallery, video, truth = clip
    cap = cv2.VideoCapture(str(video))
    k = 0
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        cv2.imwrite(str(tmp_path / f"f{k:03d}.png"), bgr)
        k += 1
    args = ["identify", str(tmp_path), "--frames", "--frame-rate", "10", "--gallery", str(gallery), "--json"]
    assert main(args) == 0
    tracks = json.loads(capsys.readouterr().out)
    assert sorted(t["identity"] for t in tracks) == ["astronaut", "cameraman"] and tracks[0]["frames"] == 12


def one_line_error(capsys, *words) -> None:
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in captured.err and all(w in err[0] for w in words), captured.err


def test_truncated_video_answers_the_frames_read(clip, tmp_path, capsys):
    gallery, video, _ = clip
    data = video.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 2])
    assert main(["identify", str(cut), "--gallery", str(gallery), "--json"]) == 2
    captured = capsys.readouterr()
    tracks = json.loads(captured.out)
    assert tracks and all(0 < t["frames"] < 12 for t in tracks)
    [line] = [x for x in captured.err.splitlines() if "error" in x]
    assert "stopped at frame" in line and "of 12" in line


@pytest.mark.parametrize(
    "case,words",
    [
        ("garbage", ["cannot be opened"]),
        ("empty", ["zero-length"]),
        ("missing", ["not found"]),
        ("every0", ["--every 0"]),
        ("pixels", ["megapixels"]),
        ("draw-type", ["--draw", ".avi"]),
    ],
)
def test_bad_video_input_is_one_line(clip, tmp_path, capsys, monkeypatch, case, words):
    gallery, video, _ = clip
    path, extra = video, []
    if case == "garbage":
        path = tmp_path / "x.mp4"
        path.write_bytes(np.random.default_rng(0).bytes(5000))
    elif case == "empty":
        path = tmp_path / "x.mp4"
        path.write_bytes(b"")
    elif case == "missing":
        path = tmp_path / "none.avi"
    elif case == "every0":
        extra = ["--every", "0"]
    elif case == "pixels":
        monkeypatch.setattr("lrface.imageio.MAX_PIXELS", 1000)
    elif case == "draw-type":
        extra = ["--draw", str(tmp_path / "out.gif")]
    assert main(["identify", str(path), "--gallery", str(gallery), *extra]) == 2
    one_line_error(capsys, *words)


def test_video_without_faces_is_one_entry_with_a_reason(clip, tmp_path, capsys):
    from scene_helpers import background

    gallery, _, _ = clip
    path = tmp_path / "empty.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (160, 120))
    for _ in range(3):
        writer.write(np.ascontiguousarray(background(120, 160)[..., ::-1]))
    writer.release()
    assert main(["identify", str(path), "--gallery", str(gallery), "--json"]) == 0
    [entry] = json.loads(capsys.readouterr().out)
    assert entry["identity"] is None and "no face found in 3 sampled frames" in entry["reason"]
