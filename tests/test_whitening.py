"""Centering and PCA whitening maths (lrface.evaluation.whitening) on hand-checkable data."""

import numpy as np
import pytest

from lrface.evaluation.whitening import apply_whitening, fit_whitening


def test_centering_subtracts_mean_and_renormalises():
    x = np.array([[3.0, 1.0], [1.0, 1.0]])  # mean (2, 1)
    w = fit_whitening(x, whiten=False)
    np.testing.assert_allclose(w.mean, [2.0, 1.0])
    np.testing.assert_allclose(apply_whitening(x, w), [[1.0, 0.0], [-1.0, 0.0]])


def test_whitening_of_axis_aligned_data_scales_each_axis():
    # axis variances 4 and 1 (points +-2 on x, +-1 on y): whitening divides by 2 and 1, leading axis first
    x = np.array([[2.0, 0.0], [-2.0, 0.0], [0.0, 1.0], [0.0, -1.0]]) + [5.0, 7.0]
    w = fit_whitening(x, eps=0.0)
    np.testing.assert_allclose(w.mean, [5.0, 7.0])
    np.testing.assert_allclose(np.abs(w.matrix), [[1 / np.sqrt(2), 0.0], [0.0, np.sqrt(2)]], atol=1e-12)
    # covariance of the whitened (not yet renormalised) training data is the identity
    y = (x - w.mean) @ w.matrix
    np.testing.assert_allclose(np.cov(y, rowvar=False, bias=True), np.eye(2), atol=1e-12)


def test_full_shrinkage_is_isotropic_and_dim_cut_keeps_leading_directions():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 3)) * [3.0, 2.0, 0.5]
    w = fit_whitening(x, shrink=1.0, eps=0.0)
    # C_s = (tr C / 3) I: every direction scaled alike, so W W^T = 3 / tr C * I
    tr = np.trace(np.cov(x, rowvar=False, bias=True))
    np.testing.assert_allclose(w.matrix @ w.matrix.T, 3 / tr * np.eye(3), atol=1e-12)
    cut = fit_whitening(x, dim=1)
    assert cut.out_dim == 1
    assert np.argmax(np.abs(cut.matrix[:, 0])) == 0  # the largest-variance axis
    assert apply_whitening(x, cut).shape == (500, 1)


def test_bad_shrink_is_refused():
    with pytest.raises(ValueError):
        fit_whitening(np.eye(3), shrink=1.5)


def test_within_class_whitening_uses_the_spread_around_each_identity_mean():
    # two identities far apart on x; around their means both spread +-1 on x and +-3 on y
    base = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 3.0], [0.0, -3.0]])
    x = np.r_[base + [10.0, 0.0], base - [10.0, 0.0]]
    w = fit_whitening(x, labels=[0] * 4 + [1] * 4, eps=0.0)
    # within-class variances: x 0.5, y 4.5 -> scales 1/sqrt(4.5) (leading, y) and 1/sqrt(0.5)
    np.testing.assert_allclose(np.abs(w.matrix), [[0.0, np.sqrt(2)], [1 / np.sqrt(4.5), 0.0]], atol=1e-12)
