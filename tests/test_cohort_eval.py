"""tools/cohort_eval.py: the cohort-normalised pair score by hand."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import cohort_eval  # noqa: E402


def _unit(degrees):
    a = np.radians(degrees)
    return np.stack([np.cos(a), np.sin(a)], 1)


def test_csls_subtracts_the_mean_of_each_faces_k_nearest_cohort_cosines():
    emb, cohort = _unit([0, 90]), _unit([0, 60, 180])
    # face 0 (0 deg): cohort cosines 1, 0.5, -1 -> top 2 mean 0.75; face 1 (90 deg): 0, 0.866, 0 -> 0.433
    score = cohort_eval.normaliser(emb, cohort, "csls", k=2, alpha=1.0)
    r0, r1 = 0.75, (np.cos(np.radians(30)) + 0.0) / 2
    assert score(np.float64(0.2), 0, 1) == pytest.approx(0.2 - (r0 + r1) / 2)
    half = cohort_eval.normaliser(emb, cohort, "csls", k=2, alpha=0.5)
    assert half(np.float64(0.2), 0, 1) == pytest.approx(0.2 - (r0 + r1) / 4)
    # AS-norm over the same top 2: sd of (1, 0.5) = 0.25, of (0.866, 0) = 0.433
    asn = cohort_eval.normaliser(emb, cohort, "asnorm", k=2, alpha=0.0)
    sd1 = np.cos(np.radians(30)) / 2
    assert asn(np.float64(0.2), 0, 1) == pytest.approx(0.5 * ((0.2 - r0) / 0.25 + (0.2 - r1) / sd1))


def test_a_hub_face_loses_its_false_accept():
    # person 2's face (45 deg) sits between persons 0 and 1 and near most of the cohort: a hub; with plain cosine
    # an impostor pair with it outscores a genuine pair, with CSLS it no longer does
    emb = _unit([0, 30, 90, 120, 45, 45.5])
    labels = np.array([0, 0, 1, 1, 2, 2])
    cohort = _unit([40, 50, 44, 46, 200])
    rows = np.arange(6)
    plain = cohort_eval.dense_tars(emb, labels, rows, cohort_eval.normaliser(emb, cohort, "plain", 0, 0))
    csls = cohort_eval.dense_tars(emb, labels, rows, cohort_eval.normaliser(emb, cohort, "csls", 2, 1.0))
    assert plain["genuine"] == csls["genuine"] == 3
    assert plain["0.01"] == pytest.approx(100 / 3)  # only the hub's own pair clears the best impostor (cos 15 deg)
    assert csls["0.01"] == pytest.approx(100.0)  # by hand (k 2): every genuine pair now clears the best impostor
