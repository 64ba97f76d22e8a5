"""The tracker at a cut: another person at the same box starts a new track (overlap alone does not join
contradicting faces; a scene cut closes every track), while noisy views of one small face stay one track."""

from __future__ import annotations

import numpy as np
import pytest

from lrface.inference.tracking import Tracker


def unit(v):
    v = np.asarray(v, np.float64)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


@pytest.mark.parametrize("other", [[-0.1, 1, 0.05], [0.12, 1, 0]])  # cosine about -0.1 (the audit's), about 0.12
def test_a_cut_to_another_person_at_the_same_box_starts_a_new_track(other):
    a, b = unit([1, 0, 0.05]), unit(other)
    tracker, ids = Tracker(), []
    for t in range(10):
        ids += tracker.update(t / 10, [[120 + t % 2, 60, 48, 58]], (a if t < 5 else b)[None], [0.9])
    assert ids[:5] == [ids[0]] * 5 and ids[5:] == [ids[5]] * 5 and ids[0] != ids[5]
    tracks = tracker.finish()
    assert [t.frames for t in tracks] == [5, 5] and np.allclose(tracks[1].pooled(), b)


def test_noisy_views_of_one_face_stay_one_track():
    """Views whose cosine to the person is only about 0.3-0.6 (a tiny, noisy face) at a jittering box (on the
    scenes benchmark's clips of real faces the 0.15 floor split no track)."""
    rng = np.random.default_rng(0)
    base = unit(rng.normal(size=128))
    views = unit(base + rng.normal(scale=2.0 / np.sqrt(128), size=(30, 128)))
    assert 0.3 < (views @ base).min() < 0.35
    tracker, ids = Tracker(), []
    for t, view in enumerate(views):
        box = [100 + rng.integers(-3, 4), 80 + rng.integers(-3, 4), 16 + rng.integers(-2, 3), 18]
        ids += tracker.update(t / 10, [box], view[None], [0.8])
    assert set(ids) == {ids[0]} and [t.frames for t in tracker.finish()] == [30]


def test_a_scene_cut_closes_every_track_even_for_a_look_alike(monkeypatch):
    """Two scenes with a face at one spot: the faces embed alike (cosine 1, which no appearance rule can split),
    and the cut between the scenes still starts a new track; noisy frames of one scene keep it."""
    from types import SimpleNamespace

    from scene_helpers import background

    import lrface.inference.video_tracks as vt
    from lrface.inference.video import Frame

    face = SimpleNamespace(box=np.array([100.0, 60, 40, 48]), det_score=0.9)
    monkeypatch.setattr(vt, "find_faces", lambda detector, image: [face])
    monkeypatch.setattr(vt, "embed_faces", lambda embedder, faces: unit([[1.0, 0, 0]] * len(faces)))
    import cv2
    import skimage.data

    scenes = [background(240, 320, seed=1), cv2.resize(skimage.data.coffee(), (320, 240))]  # another camera
    rng = np.random.default_rng(0)
    frames = [
        Frame(t, t / 10, np.clip(scenes[t >= 6] + rng.normal(0, 3, scenes[0].shape), 0, 255).astype(np.uint8))
        for t in range(12)
    ]

    class Source(list):
        expected = len(frames)

    search = lambda e: [SimpleNamespace(to_dict=lambda: {"identity": "x"}) for _ in e]
    out = vt.identify_tracks(Source(frames), None, None, search, "clip")
    assert [(t["start"], t["frames"]) for t in out["tracks"]] == [(0.0, 6), (0.6, 6)]
