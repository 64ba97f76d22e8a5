"""Embedding normalisation fitted on training embeddings (torch-free): centering and PCA whitening.

``fit_whitening`` takes training-face embeddings (N x D) and returns an affine map ``y = (x - mean) @ W``
after which the vectors are L2-normalised again (``apply_whitening``):

- centering only: ``W`` is the identity;
- PCA whitening with shrinkage: the covariance ``C`` (with ``labels``: the pooled within-identity covariance,
  i.e. within-class covariance normalisation, WCCN) is shrunk towards a scaled identity,
  ``C_s = (1 - shrink) C + shrink (tr C / D) I`` (Ledoit-Wolf style), eigen-decomposed ``C_s = V diag(l) V^T``;
  the ``dim`` leading directions are kept and scaled by ``1 / sqrt(l + eps)``: ``W = V_k diag(1/sqrt(l_k + eps))``.

Used on the open-set validation to raise TAR at low FAR (tools/lowfar_eval.py), and baked into an ONNX
graph by tools/bake_whitening.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Whitening:
    mean: np.ndarray  # D
    matrix: np.ndarray  # D x K

    @property
    def out_dim(self) -> int:
        return self.matrix.shape[1]


def fit_whitening(
    x: np.ndarray,
    whiten: bool = True,
    shrink: float = 0.0,
    dim: int | None = None,
    eps: float = 1e-6,
    labels: np.ndarray | None = None,
) -> Whitening:
    """Mean (and, with ``whiten``, the shrunk PCA-whitening matrix) of the rows of ``x``; with ``labels`` the
    whitened covariance is the within-identity one (each row minus its identity's mean)."""
    x = np.asarray(x, np.float64)
    mean = x.mean(axis=0)
    d = x.shape[1]
    if not whiten:
        return Whitening(mean, np.eye(d))
    if not 0 <= shrink <= 1:
        raise ValueError(f"shrink={shrink}: must be in [0, 1]")
    centred = x - mean
    if labels is not None:
        labels = np.unique(np.asarray(labels), return_inverse=True)[1]
        sums = np.zeros((labels.max() + 1, d))
        np.add.at(sums, labels, x)
        centred = x - (sums / np.bincount(labels)[:, None])[labels]
    c = centred.T @ centred / len(x)
    c = (1 - shrink) * c + shrink * (np.trace(c) / d) * np.eye(d)
    lam, vec = np.linalg.eigh(c)
    order = np.argsort(lam)[::-1][: dim or d]
    return Whitening(mean, vec[:, order] / np.sqrt(lam[order] + eps))


def apply_whitening(x: np.ndarray, w: Whitening) -> np.ndarray:
    """``(x - mean) @ W``, rows L2-normalised (float64)."""
    y = (np.asarray(x, np.float64) - w.mean) @ w.matrix
    return y / np.maximum(np.linalg.norm(y, axis=1, keepdims=True), 1e-12)
