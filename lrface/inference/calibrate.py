"""`lrface gallery calibrate`: choose open-set thresholds at a false-alarm rate on the gallery's own
samples and record them in its metadata (torch-free).

Method (leave-one-identity-out): every enrolled sample plays a stranger once.
- identify: its top-1 score against the searched vectors (means or samples) of all *other*
  identities is what identify would answer if that person were not enrolled; the threshold accepts
  at most FAR of these impostor scores (``score >= threshold``).
- verify: scores of sample pairs from different identities (1:1 impostor pairs); at most
  ``PAIR_SAMPLES`` samples (seeded subsample) so the pair count stays bounded.
"""

from __future__ import annotations

import datetime
import warnings

import numpy as np

from ..errors import Hint, UserError
from .gallery import Gallery
from .threshold import threshold_at_far

KEY = "calibration"
MAX_SAMPLES = 20_000  # samples playing strangers for the identify threshold (seeded subsample above this)
PAIR_SAMPLES = 2_000  # samples whose cross-identity pairs give the verify threshold
BLOCK = 1024


def below_measurable(far: float, n: int) -> bool:
    """True when ``n`` impostor scores are too few to measure false-alarm rate ``far`` (``far < 1/n``)."""
    return n > 0 and far * n < 1


def _identify_impostors(owners: np.ndarray, x: np.ndarray, vec_owners: np.ndarray, vecs: np.ndarray) -> np.ndarray:
    out = np.empty(len(x), np.float32)
    for i in range(0, len(x), BLOCK):
        s = x[i : i + BLOCK] @ vecs.T
        s[owners[i : i + BLOCK, None] == vec_owners[None, :]] = -np.inf
        out[i : i + BLOCK] = s.max(axis=1)
    return out


def _verify_impostors(owners: np.ndarray, x: np.ndarray) -> np.ndarray:
    s = x @ x.T
    upper = np.triu(np.ones(s.shape, bool), 1) & (owners[:, None] != owners[None, :])
    return s[upper]


def calibrate(gallery: Gallery, far: float, seed: int = 0) -> dict:
    """Thresholds at false-alarm rate ``far`` from the gallery's samples; stored with :meth:`Gallery.set_info`."""
    if isinstance(far, bool) or not isinstance(far, (int, float)) or not 0 < far < 1:
        raise UserError(f"--far {far!r}: must be a number between 0 and 1 (e.g. 0.01)")
    owners, x = gallery.sample_vectors()
    n_ids = len(set(owners.tolist()))
    if n_ids < 2:
        raise UserError(
            f"{gallery.root or 'the gallery'} has {n_ids} identities; calibration needs at least 2 "
            "(impostor scores come from pairs of different enrolled people): enrol another with "
            "`lrface gallery add`"
        )
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(len(x), MAX_SAMPLES, replace=False)) if len(x) > MAX_SAMPLES else np.arange(len(x))
    vec_owners, vecs = gallery.template_vectors()
    if gallery.template == "all":
        vec_owners = owners
    ident = _identify_impostors(owners[pick], x[pick], vec_owners, vecs)
    pair_pick = np.sort(rng.choice(len(x), PAIR_SAMPLES, replace=False)) if len(x) > PAIR_SAMPLES else np.arange(len(x))
    pairs = _verify_impostors(owners[pair_pick], x[pair_pick])
    for kind, n in (("identify", len(ident)), ("verify", len(pairs))):
        if below_measurable(far, n):
            warnings.warn(
                Hint(
                    f"a FAR of {far:g} is below what {n} {kind} impostor scores can measure (1/{n} = {1 / n:.2g}): the "
                    f"{kind} threshold accepts none of them and its false-alarm rate is known only to be under "
                    f"about {1 / n:.2g}; enrol more people, or calibrate at a FAR of {1 / n:.2g} or above"
                ),
                stacklevel=2,
            )
    result = {
        "far": far,
        "identify_threshold": max(-1.0, threshold_at_far(ident, far)),  # -inf (all pass) is -1 for cosines
        "verify_threshold": max(-1.0, threshold_at_far(pairs, far)),
        "identify_impostor_scores": len(ident),
        "verify_impostor_pairs": len(pairs),
        "identities": n_ids,
        "samples": len(x),
        "template": gallery.template,
        "model_fingerprint": gallery.fingerprint,
        "edits": gallery.info.get("edits", 0),  # the gallery's edit count: a later add or remove makes this stale
        "seed": seed,
        "method": "leave-one-identity-out: each sample's top-1 score over the other identities (identify); "
        "cross-identity sample pairs (verify); accept score >= threshold",
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }
    gallery.set_info(KEY, result)
    return result


def drifted(cal: dict, edits: int, now: dict) -> dict:
    """The calibration record ``cal`` with ``changed`` (what the gallery holds ``now``: identities, samples) when
    the gallery was edited after calibrating, without it otherwise; identify, verify and serve then call the
    thresholds stale."""
    if "edits" in cal:  # every add and remove counts, so a removal and an addition never cancel out
        stale = cal["edits"] != edits
    else:  # a record written before the counter: the counts are all there is
        stale = now != {k: cal.get(k, now[k]) for k in now}
    return {k: v for k, v in cal.items() if k != "changed"} | ({"changed": now} if stale else {})
