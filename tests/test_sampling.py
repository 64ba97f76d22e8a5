"""train.per_identity: identity-grouped epoch order (P x K batches), its wiring into the batches, its check."""

from collections import Counter

import numpy as np
import pytest
import torch
from test_engine import tiny_cfg, tiny_data

from lrface.config import load_config
from lrface.data.sampling import epoch_order
from lrface.engine.batches import train_batches
from lrface.engine.trainer import Trainer
from lrface.errors import UserError


def test_a_plain_shuffle_is_the_seeded_randperm_of_earlier_runs():
    labels = np.repeat(np.arange(10), 7)
    expected = torch.randperm(70, generator=torch.Generator().manual_seed(11)).numpy()
    assert np.array_equal(epoch_order(labels, 11), expected)
    assert np.array_equal(epoch_order(labels, 11, per_identity=1), expected)


def test_grouped_batches_hold_runs_of_one_identity():
    """40 identities x 12 images, runs of 4, batches of 32: every batch holds 8 runs, each identity a multiple
    of 4 times (a plain shuffle of the same labels does not)."""
    labels = np.repeat(np.arange(40), 12)
    order = epoch_order(labels, 3, per_identity=4)
    assert sorted(order.tolist()) == list(range(len(labels)))
    for b in range(0, len(order), 32):
        counts = Counter(labels[order[b : b + 32]].tolist())
        assert all(c % 4 == 0 for c in counts.values()) and len(counts) <= 8
    assert np.array_equal(labels[order[:4]], [labels[order[0]]] * 4)
    plain = labels[epoch_order(labels, 3)[:32]]
    assert any(c % 4 for c in Counter(plain.tolist()).values())


def test_uneven_identities_keep_every_image_once_and_the_order_is_seeded():
    labels = np.array([0] * 5 + [1] * 2 + [2] * 1 + [3] * 9)
    a, b = epoch_order(labels, 1, 4), epoch_order(labels, 1, 4)
    assert np.array_equal(a, b) and sorted(a.tolist()) == list(range(len(labels)))
    assert not np.array_equal(a, epoch_order(labels, 2, 4))
    runs = np.split(labels[a], np.flatnonzero(np.diff(labels[a])) + 1)
    assert sum(len(r) for r in runs if r[0] == 3) == 9 and max(len(r) for r in runs) <= 8


def test_the_trainer_batches_follow_the_grouped_order(tmp_path):
    tr = Trainer(tiny_cfg("train.per_identity=2", "train.batch_size=8"), tiny_data(n_classes=4), tmp_path)
    labels = tr.data.splits["train"][1]
    order = epoch_order(labels, 99, per_identity=2)
    for i, (_, y, idx) in enumerate(train_batches(tr, 99)):
        assert np.array_equal(idx, np.sort(order[i * 8 : (i + 1) * 8]))
        assert all(c % 2 == 0 for c in Counter(y.tolist()).values())


@pytest.mark.parametrize("k, message", [(1, r"2\.\.32"), (33, r"2\.\.32"), (-2, ">= 0")])
def test_a_group_size_outside_2_to_half_the_batch_is_refused(k, message):
    with pytest.raises(UserError, match=rf"train.per_identity.*{message}"):
        load_config(None, [f"train.per_identity={k}", "train.batch_size=64"])
