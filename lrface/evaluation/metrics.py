"""Identification metrics: CMC / top-k (closed set) and detection-and-identification rate at
given false-alarm rates (open set). Pure NumPy."""

from __future__ import annotations

import numpy as np

from ..inference.threshold import accepts, threshold_at_far


def true_ranks(matches: list[list[tuple[str, float]]], truth: list[str]) -> np.ndarray:
    """1-based rank of the true identity in each probe's ranked matches (0 when absent)."""
    ranks = np.zeros(len(truth), np.int64)
    for i, (m, t) in enumerate(zip(matches, truth)):
        names = [n for n, _ in m]
        ranks[i] = names.index(t) + 1 if t in names else 0
    return ranks


def cmc(ranks: np.ndarray, max_rank: int) -> np.ndarray:
    """cmc[r-1] = fraction of probes whose true identity is within the top r."""
    if len(ranks) == 0:
        return np.zeros(max_rank)
    return np.array([float(np.mean((ranks >= 1) & (ranks <= r))) for r in range(1, max_rank + 1)])


def dir_at_far(
    known_top1_correct: np.ndarray, known_scores: np.ndarray, unknown_scores: np.ndarray, fars: list[float]
) -> list[dict]:
    """For each false-alarm rate f: the threshold that accepts at most f of the unknown probes
    (accept means top-1 score >= threshold, as identify decides) and the fraction of known probes
    accepted and correct."""
    out = []
    unknown_scores = np.asarray(unknown_scores, np.float64)
    for f in fars:
        thr = threshold_at_far(unknown_scores, f)
        accepted = accepts(np.asarray(known_scores, np.float64), thr)
        out.append(
            {
                "far": f,
                "threshold": thr,
                "dir": float(np.mean(accepted & np.asarray(known_top1_correct, bool))) if len(known_scores) else None,
                "measured_far": float(np.mean(accepts(unknown_scores, thr))) if len(unknown_scores) else 0.0,
            }
        )
    return out


def evaluate_matches(
    matches: list[list[tuple[str, float]]], truth: list[str], gallery_names: set[str], fars: list[float], max_rank: int
) -> dict:
    """Closed-set metrics over probes whose identity is enrolled, open-set DIR when some are not."""
    known = [i for i, t in enumerate(truth) if t in gallery_names]
    unknown = [i for i, t in enumerate(truth) if t not in gallery_names]
    ranks = true_ranks([matches[i] for i in known], [truth[i] for i in known])
    # no probe identity enrolled: closed-set accuracy is undefined (None, shown as N/A), not 0 %
    top = lambda k: float(np.mean((ranks >= 1) & (ranks <= k))) if known else None  # noqa: E731
    result = {
        "probes": len(truth),
        "known_probes": len(known),
        "unknown_probes": len(unknown),
        "gallery_identities": len(gallery_names),
        "top1": top(1),
        "top5": top(5),
        "cmc": [float(v) for v in cmc(ranks, max_rank)] if known else [],
    }
    if unknown:
        top1 = lambda i: matches[i][0][1] if matches[i] else float("-inf")
        result["open_set"] = dir_at_far(
            ranks == 1, np.array([top1(i) for i in known]), np.array([top1(i) for i in unknown]), fars
        )
    return result
