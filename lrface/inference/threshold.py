"""The open-set decision rule, shared by identify, verify, evaluate and the service: a score is
accepted when ``score >= threshold`` (a score equal to the threshold counts as a match); and which
threshold verification uses when none is given (``verify_threshold``, docs/verify-threshold.md)."""

from __future__ import annotations

import numpy as np

UNKNOWN = "unknown"  # the answer for a face whose best score is not accepted (never an identity's name)
DEFAULT_FAR = 1e-3  # the false-accept rate of a packaged model's default verify threshold (its card's)


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


def verify_threshold(explicit: float | None, gallery, model_path) -> tuple[float | None, str, float | None]:
    """(threshold, source, false-accept rate) for 1:1 verification, the rule of the CLI, API and service:
    ``explicit``, else ``gallery``'s calibrated verify threshold, else the packaged model card's threshold
    at FAR ``DEFAULT_FAR`` on the validation the card names; (None, source, None) when there is none."""
    from ..api.results import explicit_threshold
    from ..pretrained import card_threshold

    if explicit is not None:
        return (*explicit_threshold(explicit), None)
    if gallery is not None:
        value, source = gallery.threshold(None, "verify")
        if value is not None:
            return value, source, gallery.calibrated_far()
    card = card_threshold(model_path)
    return card if card is not None else (None, "no threshold", None)
