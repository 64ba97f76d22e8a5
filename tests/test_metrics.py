"""Identification metrics that mean something: N/A without enrolled probes, top-5 whatever the CMC length."""

from __future__ import annotations

import numpy as np
import pytest

from lrface.evaluation.metrics import evaluate_matches

# probe 0: true identity at rank 1; probe 1: rank 3; probe 2: rank 6 (absent from the top 5)
MATCHES = [
    [("a", 0.9), ("b", 0.5)],
    [("c", 0.8), ("d", 0.7), ("b", 0.6), ("a", 0.1)],
    [(n, 0.9 - 0.1 * k) for k, n in enumerate("bcdefa")],
]
TRUTH = ["a", "b", "a"]
NAMES = set("abcdef")


@pytest.mark.parametrize("max_rank", [1, 3, 20])
def test_top5_does_not_depend_on_the_cmc_length(max_rank):
    m = evaluate_matches(MATCHES, TRUTH, NAMES, [0.1], max_rank)
    assert (m["top1"], m["top5"]) == (pytest.approx(1 / 3), pytest.approx(2 / 3))
    assert len(m["cmc"]) == max_rank and m["cmc"][0] == pytest.approx(1 / 3)


def test_no_enrolled_probe_identity_is_not_applicable_not_zero():
    m = evaluate_matches(MATCHES, ["x", "y", "z"], NAMES, [0.1], 5)
    assert m["top1"] is None and m["top5"] is None and m["cmc"] == [] and m["unknown_probes"] == 3
    assert [r["dir"] for r in m["open_set"]] == [None]


def test_dir_counts_known_probes_named_right_above_the_unknowns_threshold():
    # an unknown probe "x" scores 0.85: at FAR 0.1 (of one unknown, none may pass) the threshold is just above it;
    # probes 0 (a, 0.9, right) and 2 (b, 0.9, wrong) pass, probe 1 (0.8) does not: DIR = 1/3, by hand
    m = evaluate_matches([*MATCHES, [("a", 0.85)]], [*TRUTH, "x"], NAMES, [0.1], 5)
    [row] = m["open_set"]
    assert row["threshold"] == np.nextafter(0.85, 1) and row["dir"] == pytest.approx(1 / 3)
    assert row["measured_far"] == 0.0 and (m["known_probes"], m["unknown_probes"]) == (3, 1)
