"""The open-set decision rule, shared by identify, verify, evaluate and the service: a score is
accepted when ``score >= threshold`` (a score equal to the threshold counts as a match)."""

from __future__ import annotations

import numpy as np


def accepts(scores, threshold: float | None):
    """True where a score is accepted (``score >= threshold``); None accepts everything."""
    if threshold is None:
        return np.ones(np.shape(scores), bool) if np.ndim(scores) else True
    # float64: a float32 array would round the threshold (just above a float32 score) back onto that score
    return np.asarray(scores, np.float64) >= threshold if np.ndim(scores) else float(scores) >= threshold


def threshold_at_far(impostor_scores, far: float) -> float:
    """The lowest threshold that accepts at most ``far`` of the impostor scores under :func:`accepts`:
    just above the (m+1)-th highest impostor score, m = floor(far * n); -inf when every score may pass."""
    desc = np.sort(np.asarray(impostor_scores, np.float64))[::-1]
    m = int(np.floor(far * len(desc) + 1e-9))
    return float(np.nextafter(desc[m], np.inf)) if m < len(desc) else float("-inf")
