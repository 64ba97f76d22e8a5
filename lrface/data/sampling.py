"""The order of an epoch's training images: a plain shuffle, or identity groups (``train.per_identity``).

With identity groups each identity's images (in a shuffled order) are cut into runs of ``per_identity`` and the
runs are shuffled, so a batch of B images holds about B / per_identity identities with several images each (the
P x K batches of metric learning): within-batch terms such as L_emb-rel then see genuine pairs in every batch.
Every image still comes once per epoch.
"""

from __future__ import annotations

import numpy as np
import torch


def epoch_order(labels: np.ndarray, seed: int, per_identity: int = 0) -> np.ndarray:
    """Indices of the epoch's images in training order, seeded; ``per_identity`` < 2 is a plain shuffle."""
    gen = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(labels), generator=gen).numpy()
    if per_identity < 2:
        return perm
    shuffled = np.asarray(labels)[perm]
    by_identity = np.argsort(shuffled, kind="stable")  # each identity's images together, in the shuffled order
    ordered, ids = perm[by_identity], shuffled[by_identity]
    first = np.r_[True, ids[1:] != ids[:-1]]
    start = np.maximum.accumulate(np.where(first, np.arange(len(ids)), 0))
    cuts = np.flatnonzero(first | ((np.arange(len(ids)) - start) % per_identity == 0))
    runs = np.split(ordered, cuts[1:])
    return np.concatenate([runs[i] for i in torch.randperm(len(runs), generator=gen).tolist()])
