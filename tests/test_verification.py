"""Verification protocol (LFW View 2): pairs parsing, the fold threshold rule, TAR at FAR, AUC, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lrface.cli import main
from lrface.errors import UserError
from lrface.evaluation import pair_align
from lrface.evaluation.verification import (
    best_threshold,
    dense_pairs,
    dense_tar,
    metrics_from_embeddings,
    parse_pairs,
    roc_auc,
    tar_at_far,
    verification_metrics,
)
from tests.conftest import shared_data
from tests.serving_helpers import generated_faces, tiny_export, write_identity_folder


def test_fold_threshold_is_chosen_on_the_other_folds():
    # fold 2 alone is separable at 0.3, but the threshold learned on folds 0+1 (0.5) rejects its 0.4 pair
    scores = [0.9, 0.8, 0.1, 0.2, 0.9, 0.7, 0.2, 0.3, 0.4, 0.9, 0.1, 0.2]
    same = [True, True, False, False] * 3
    folds = [0] * 4 + [1] * 4 + [2] * 4
    m = verification_metrics(scores, same, folds, fars=())
    assert m["fold_accuracy"] == [1.0, 1.0, 0.75]
    assert m["fold_threshold"] == pytest.approx([0.35, 0.3, 0.5])
    assert m["accuracy"] == pytest.approx(2.75 / 3)
    assert m["accuracy_std"] == pytest.approx(np.std([1, 1, 0.75]))
    assert (m["pairs"], m["same_pairs"], m["folds"]) == (12, 6, 3)


def test_best_threshold_ties_go_to_the_median_candidate():
    # candidates -0.8, 0.3, 0.5, 0.7, 1.8 score 2/4, 3/4, 2/4, 3/4, 2/4: the tied best are 0.3 and 0.7
    t, acc = best_threshold([0.2, 0.4, 0.6, 0.8], [False, True, False, True])
    assert (t, acc) == (pytest.approx(0.7), 0.75)


def test_tar_at_far_and_auc_by_hand():
    neg = np.arange(10) / 10  # 0.0 .. 0.9
    scores = np.r_[[0.95, 0.85, 0.5], neg]
    same = np.r_[[True] * 3, [False] * 10]
    row = tar_at_far(scores, same, 0.1)  # one false accept allowed: threshold = 2nd highest negative 0.8
    assert row == {
        "far": 0.1,
        "tar": pytest.approx(2 / 3),
        "threshold": pytest.approx(0.8),
        "measured_far": pytest.approx(0.1),
    }
    assert tar_at_far(scores, same, 0.0)["threshold"] == pytest.approx(0.9)
    # pos 0.9, 0.5 vs neg 0.5, 0.1: 1 + 1 + 0.5 (tie) + 1 of 4
    assert roc_auc([0.9, 0.5, 0.5, 0.1], [True, True, False, False]) == pytest.approx(0.875)


def test_dense_tar_by_hand():
    # faces on the unit circle at angles 0, 10, 90 (identity 0, 0, 1) and 100, 180 (identity 1, 2)
    ang = np.radians([0, 10, 90, 100, 180])
    emb = np.c_[np.cos(ang), np.sin(ang)]
    tars = dense_tar(emb, [0, 0, 1, 1, 2], (0.0, 0.15))
    scores, same, _ = dense_pairs(emb, [0, 0, 1, 1, 2])
    gen, imp = scores[same], scores[~same]
    assert sorted(np.round(gen, 6)) == pytest.approx(sorted(np.cos(np.radians([10, 10]))))
    assert len(imp) == 8  # 10 pairs, 2 genuine
    # genuine both cos 10; the highest impostor cos 80 (10 vs 90) < cos 10: every genuine pair passes at FAR 0
    assert tars == {0.0: 1.0, 0.15: 1.0}
    # angles 0, 5, 90, 100, 180 of identities 0, 0, 1, 2, 1: genuine cos 5 and cos 90 = 0; impostors in
    # descending order cos 10, cos 80, cos 85, 0 (0-90), -cos 85, ...; FAR 0.5 of 8 lets 4 pass: threshold above -cos 85
    emb = np.c_[np.cos(np.radians([0, 5, 90, 100, 180])), np.sin(np.radians([0, 5, 90, 100, 180]))]
    tars = dense_tar(emb, [0, 0, 1, 2, 1], (0.0, 0.15, 0.4, 0.5))
    assert tars == {0.0: 0.5, 0.15: 0.5, 0.4: 0.5, 0.5: 1.0}
    with pytest.raises(UserError, match="dense TAR"):
        dense_tar(emb[:2], [0, 1], (0.1,))


def _pairs_text(folds: int, n: int, same_lines: list[str], diff_lines: list[str]) -> str:
    body = []
    for f in range(folds):
        body += same_lines[f * n : (f + 1) * n] + diff_lines[f * n : (f + 1) * n]
    return f"{folds}\t{n}\n" + "\n".join(body) + "\n"


def test_parse_pairs_layout_and_errors(tmp_path):
    p = tmp_path / "pairs.txt"
    p.write_text(_pairs_text(2, 1, ["A 1 2", "B 1 3"], ["A 1 B 2", "C 1 A 2"]))
    pf = parse_pairs(p)
    assert [(q.a, q.b, q.same, q.fold, q.line) for q in pf.pairs] == [
        ("A/A_0001.jpg", "A/A_0002.jpg", True, 0, 2),
        ("A/A_0001.jpg", "B/B_0002.jpg", False, 0, 3),
        ("B/B_0001.jpg", "B/B_0003.jpg", True, 1, 4),
        ("C/C_0001.jpg", "A/A_0002.jpg", False, 1, 5),
    ]
    # keys in first-seen order: A1 A2 B2 B1 B3 C1; each pair's two images as positions in them
    assert pf.keys == ["A/A_0001.jpg", "A/A_0002.jpg", "B/B_0002.jpg", "B/B_0001.jpg", "B/B_0003.jpg", "C/C_0001.jpg"]
    a, b = pf.key_indices()
    assert a.tolist() == [0, 0, 3, 5] and b.tolist() == [1, 2, 4, 1]
    bad = {
        "header": ("2 x\nA 1 2\n", ":1:"),
        "fields": (_pairs_text(2, 1, ["A 1 2", "B 1 B 3"], ["A 1 B 2", "C 1 A 2"]), ":4:"),
        "number": (_pairs_text(2, 1, ["A 1 2", "B one 3"], ["A 1 B 2", "C 1 A 2"]), ":4:"),
        "count": ("2 1\nA 1 2\nA 1 B 2\n", "promises 2 folds"),
    }
    for text, needle in bad.values():
        p.write_text(text)
        with pytest.raises(UserError, match=needle) as e:
            parse_pairs(p)
        assert "\n" not in str(e.value)


def test_missing_image_and_missing_embedding_name_the_line(tmp_path):
    p = tmp_path / "pairs.txt"
    p.write_text(_pairs_text(2, 1, ["A 1 2", "A 2 1"], ["A 1 B 1", "A 2 A 1"]))
    pf = parse_pairs(p)
    for key in ("A/A_0001.jpg", "A/A_0002.jpg"):
        (tmp_path / "img" / key).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "img" / key).write_bytes(b"x")
    with pytest.raises(UserError, match=r"pairs.txt:3: image B/B_0001.jpg not found"):
        pair_align.check_images(pf, tmp_path / "img")
    emb = {"A/A_0001.jpg": np.ones(4), "A/A_0002.jpg": np.ones(4)}
    with pytest.raises(UserError, match="line 3: no embedding for B/B_0001.jpg"):
        metrics_from_embeddings(pf, emb)
    emb["B/B_0001.jpg"] = -np.ones(4)
    emb["A/A_0002.jpg"] = np.array([1.0, 1, 1, -1])
    m, scores = metrics_from_embeddings(pf, emb)
    assert scores.tolist() == pytest.approx([0.5, -1.0, 0.5, 0.5])
    assert m["fold_accuracy"] == [0.5, 0.5]  # fold 1 ties at 0.5, so no threshold learned there helps fold 0


def test_real_lfw_pairs_layout():
    pf = parse_pairs(shared_data("lfw") / "pairs.txt")
    assert (len(pf.pairs), pf.n_folds, sum(p.same for p in pf.pairs)) == (6000, 10, 3000)
    first = pf.pairs[0]
    assert (first.a, first.b, first.same, first.line) == (
        "Abel_Pacheco/Abel_Pacheco_0001.jpg",
        "Abel_Pacheco/Abel_Pacheco_0004.jpg",
        True,
        2,
    )
    assert [sum(p.fold == f for p in pf.pairs) for f in range(10)] == [600] * 10
    assert not pf.pairs[300].same and pf.pairs[600].same and pf.pairs[600].fold == 1


def test_evaluate_pairs_cli_and_cache(tmp_path_factory, tmp_path, capsys, monkeypatch):
    _, onnx_path = tiny_export(tmp_path_factory.mktemp("tiny"))
    images, labels = generated_faces(n_ids=6, per_id=8)
    names = [f"P{i}" for i in range(6)]
    root = tmp_path / "lfw"
    for i, name in enumerate(names):
        write_identity_folder(root, images[labels == i][:3], np.zeros(3, np.int64), [name], ext=".jpg")
        for j in range(3):
            (root / name / f"{j:04d}.jpg").rename(root / name / f"{name}_{j + 1:04d}.jpg")
    same = [f"P{i} 1 {2 + (i % 2)}" for i in range(6)]
    diff = [f"P{i} 1 P{(i + 1) % 6} 2" for i in range(6)]
    pairs = tmp_path / "pairs.txt"
    pairs.write_text(_pairs_text(2, 3, same, diff))
    argv = [
        "evaluate",
        "--pairs",
        str(pairs),
        "--images",
        str(root),
        "--model",
        str(onnx_path),
        "--json",
        "--out",
        str(tmp_path / "out"),
    ]
    assert main(argv) == 0
    first = json.loads(capsys.readouterr().out)
    assert (first["pairs"], first["same_pairs"], first["images"]) == (12, 6, 15)
    assert set(first["alignment"]) <= {"aligned", "box-only"} and sum(first["alignment"].values()) == 15
    # every number is what the protocol gives for the model's own embeddings of the cached aligned faces
    from lrface.inference.embedder import Embedder

    pf = parse_pairs(pairs)
    faces, _ = pair_align.aligned_pair_images(pf, root, 16, log=print)
    keys = sorted(faces)
    ref, _ = metrics_from_embeddings(pf, dict(zip(keys, Embedder(onnx_path).embed([faces[k] for k in keys]))))
    for key in ("accuracy", "accuracy_std", "auc"):
        assert first[key] == pytest.approx(ref[key], abs=1e-9), key
    for got, want in zip(first["tar_at_far"], ref["tar_at_far"], strict=True):
        assert got == pytest.approx(want)
    assert [r["far"] for r in first["tar_at_far"]] == [0.01, 0.001] and first["accuracy"] >= 0.75
    assert (tmp_path / "out" / "roc.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    monkeypatch.setattr(pair_align, "_prepare", lambda *a: pytest.fail("the second run must read the cache"))
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["accuracy"] == first["accuracy"]
    (root / "P5" / "P5_0002.jpg").unlink()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "pairs.txt:" in err and "P5/P5_0002.jpg not found" in err
