"""The tracker at a cut: another person at the same box starts a new track (overlap alone does not join
contradicting faces), while noisy views of one small face stay one track."""

from __future__ import annotations

import numpy as np

from lrface.inference.tracking import Tracker


def unit(v):
    v = np.asarray(v, np.float64)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def test_a_cut_to_another_person_at_the_same_box_starts_a_new_track():
    a, b = unit([1, 0, 0.05]), unit([-0.1, 1, 0.05])  # cosine about -0.1, as the audit's two faces
    tracker, ids = Tracker(), []
    for t in range(10):
        ids += tracker.update(t / 10, [[120 + t % 2, 60, 48, 58]], (a if t < 5 else b)[None], [0.9])
    assert ids[:5] == [ids[0]] * 5 and ids[5:] == [ids[5]] * 5 and ids[0] != ids[5]
    tracks = tracker.finish()
    assert [t.frames for t in tracks] == [5, 5] and np.allclose(tracks[1].pooled(), b)


def test_noisy_views_of_one_face_stay_one_track():
    """Views whose cosine to the person is only about 0.2-0.55 (a tiny, noisy face) at a jittering box."""
    rng = np.random.default_rng(0)
    base = unit(rng.normal(size=128))
    views = unit(base + rng.normal(scale=2.5 / np.sqrt(128), size=(30, 128)))
    assert 0.1 < (views @ base).min() < 0.3
    tracker, ids = Tracker(), []
    for t, view in enumerate(views):
        box = [100 + rng.integers(-3, 4), 80 + rng.integers(-3, 4), 16 + rng.integers(-2, 3), 18]
        ids += tracker.update(t / 10, [box], view[None], [0.8])
    assert set(ids) == {ids[0]} and [t.frames for t in tracker.finish()] == [30]
