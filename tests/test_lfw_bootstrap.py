"""tools/lfw_bootstrap.py: its vectorised TAR at FAR is lrface's, resample by resample."""

import sys
from pathlib import Path

import numpy as np
import pytest

from lrface.evaluation.verification import tar_at_far

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import lfw_bootstrap  # noqa: E402


@pytest.mark.parametrize("far", [1e-2, 1e-3])
def test_vectorised_tar_matches_lrface_per_resample(far):
    rng = np.random.default_rng(0)
    genuine = rng.normal(0.6, 0.15, (5, 300)).astype(np.float32)
    impostor = rng.normal(0.2, 0.15, (5, 3000)).astype(np.float32)
    impostor[:, :10] = np.round(impostor[:, :10], 2)  # ties among the highest impostors
    genuine[:, :5] = impostor[:, :5]  # genuine scores exactly at impostor scores
    got = lfw_bootstrap.tar_at_far(genuine, impostor, far)
    for r in range(5):
        scores = np.r_[genuine[r], impostor[r]]
        same = np.r_[np.ones(300, bool), np.zeros(3000, bool)]
        assert got[r] == tar_at_far(scores, same, far)["tar"]


def test_three_impostors_decide_tar_at_1e_3():
    genuine = np.array([[0.50, 0.60, 0.70, 0.80]])
    impostor = np.r_[np.zeros(2997), 0.9, 0.65, 0.55][None]  # 3,000 impostors: three may pass, the 4th sets it
    assert lfw_bootstrap.tar_at_far(genuine, impostor, 1e-3)[0] == 1.0
    impostor[0, 0] = 0.75  # one more high impostor: the threshold moves to 0.55
    assert lfw_bootstrap.tar_at_far(genuine, impostor, 1e-3)[0] == 0.75
