"""tools/lfw_one_photo.py: top-1 per draw of people and among all, on a score matrix worked by hand."""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
from lfw_one_photo import top1_rates  # noqa: E402


def test_top1_rates_count_each_draw_among_its_own_people():
    # probe 0 names 0; probe 1 names 2 (wrong among all, right when 2 is not drawn); probe 2 names 2
    scores = np.array([[0.9, 0.1, 0.2], [0.1, 0.5, 0.8], [0.0, 0.3, 0.7]])
    per_draw, everyone = top1_rates(scores, [np.array([0, 1]), np.array([1, 2]), np.array([0, 2])])
    assert per_draw == [1.0, 0.5, 1.0]
    assert everyone == 2 / 3
