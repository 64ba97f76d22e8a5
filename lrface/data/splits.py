"""Seeded per-class splits: train/test, train/val and few-sample subsets share one shuffle."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np


def _shuffled_classes(labels: np.ndarray, seed: int) -> Iterator[np.ndarray]:
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        yield idx[rng.permutation(len(idx))]


def per_class_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(kept, held_out): ``round(fraction * n)`` of each class held out, at least one item kept."""
    kept, held = [], []
    for idx in _shuffled_classes(labels, seed):
        k = min(int(round(fraction * len(idx))), len(idx) - 1)
        held.extend(idx[:k])
        kept.extend(idx[k:])
    return np.sort(np.asarray(kept, dtype=np.int64)), np.sort(np.asarray(held, dtype=np.int64))


def few_sample_subset(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Indices of ``fraction`` of each class (at least one per class): the paper's Fig. 7 subsets."""
    if fraction >= 1:
        return np.arange(len(labels), dtype=np.int64)
    taken = []
    for idx in _shuffled_classes(labels, seed):
        taken.extend(idx[: max(1, int(round(fraction * len(idx))))])
    return np.sort(np.asarray(taken, dtype=np.int64))
