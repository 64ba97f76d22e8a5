"""tools/model_threshold.py: FAR thresholds rounded up, and the unseen-people mode on a hand-made set."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from lrface.data.packed import write_packed_set
from lrface.inference.threshold import threshold_at_far

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import model_threshold  # noqa: E402


def test_far_thresholds_round_up_never_down():
    assert model_threshold.up4(0.57151) == 0.5716
    assert model_threshold.up4(0.5715) == 0.5715
    assert model_threshold.up4(-0.12349) == -0.1234
    # rounded up, a threshold still lets at most the share pass; rounded to nearest, two more get through here
    impostors = np.array([0.10, 0.2, 0.30001, 0.30004, 0.5])
    t = model_threshold.up4(threshold_at_far(impostors, 0.2))  # one of five may pass: just above 0.30004
    assert (impostors >= t).sum() == 1
    assert (impostors >= round(threshold_at_far(impostors, 0.2), 4)).sum() == 3


class _AngleEmbedder:
    """Embeds a face as the unit vector at the angle (degrees) written in its pixels."""

    def __init__(self, path):
        self.path = path

    def embed(self, faces):
        a = np.radians(np.asarray(faces)[:, 0, 0, 0].astype(np.float64))
        return np.stack([np.cos(a), np.sin(a)], 1)


def _angle_sets(tmp_path):
    """Four people of three faces each, 60 degrees apart, faces of a person within 8 degrees; "x" is also trained."""
    angles = [0, 4, 8, 60, 64, 68, 120, 124, 128, 180, 184, 188]
    labels = [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
    images = np.zeros((12, 16, 16, 3), np.uint8) + np.array(angles, np.uint8)[:, None, None, None]
    rows = [{"split": "all", "index": i, "label": lb, "identity": "abcx"[lb]} for i, lb in enumerate(labels)]
    pool = write_packed_set(tmp_path / "pool", {"all": (images, np.array(labels))}, list("abcx"), rows)
    trained = write_packed_set(
        tmp_path / "trained",
        {"all": (images[:1], np.array([0]))},
        ["x"],
        [{"split": "all", "index": 0, "label": 0, "identity": "x"}],
    )
    return pool, trained


def test_unseen_mode_scores_every_pair_of_the_untrained_people(tmp_path, monkeypatch):
    monkeypatch.setattr("lrface.inference.embedder.Embedder", _AngleEmbedder)
    pool, trained = _angle_sets(tmp_path)
    impostors, value, source = model_threshold.unseen_pairs(pool, [trained], Path("model.onnx"))
    # a, b, c stay: 9 same pairs of 36, 27 different ones; the nearest strangers are 52 degrees apart
    assert len(impostors) == 27 and "3 people" in source and "9 same and 27 different" in source
    assert impostors.max() == pytest.approx(np.cos(np.radians(52)))
    # every same pair (cos 8 or more) lies above every different pair: a perfect threshold between them
    assert np.cos(np.radians(52)) < value < np.cos(np.radians(8)) and "(100.00 %)" in source


def test_unseen_mode_card_names_the_validation_verify_prints(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("lrface.inference.embedder.Embedder", _AngleEmbedder)
    pool, trained = _angle_sets(tmp_path)
    argv = ["model_threshold.py", "--model", "m.onnx", "--unseen", str(pool), "--exclude", str(trained)]
    monkeypatch.setattr(sys, "argv", argv)
    model_threshold.main()
    card = json.loads(capsys.readouterr().out)
    # lrface verify prints "FAR 0.001 on <validation>": without the key it would claim the run's open-set one
    assert card["validation"] == "the unseen-people validation" and card["default_far"] == 0.001
    # 27 impostors: at FAR 1e-2 and 1e-3 none may pass, so both sit just above cos 52 (0.615661...), rounded up
    assert card["verify_far"] == {"0.01": 0.6157, "0.001": 0.6157}
