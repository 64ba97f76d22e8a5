"""`lrface models`, the packaged students' model cards, and identify with the packaged default model."""

import json

import pytest

from lrface import pretrained
from tests.serving_helpers import generated_faces, package_model, run_cli, tiny_export, write_identity_folder


@pytest.fixture
def packaged(tmp_path_factory, tmp_path, monkeypatch):
    """A packaged-model folder holding one tiny exported student, in place of lrface/pretrained."""
    _, onnx = tiny_export(tmp_path_factory.mktemp("tiny"))
    root = tmp_path / "pretrained"
    package_model(root, onnx)
    monkeypatch.setattr(pretrained, "HERE", root)
    monkeypatch.setattr(pretrained.resolve_model, "__defaults__", (root,))
    monkeypatch.setattr(pretrained.list_models, "__defaults__", (root,))
    return root


def card(root):
    return json.loads((root / "tiny.json").read_text())


def test_models_lists_the_cards_key_fields(packaged, capsys):
    rc, out, _ = run_cli(capsys, "models")
    head, row = out.splitlines()[:2]
    assert rc == 0 and head.split() == ["name", "size", "MB", "input", "dim", "LFW-16", "integrity", "terms"]
    assert row.split()[:2] == ["tiny", "*"] and row.split()[-3:] == ["n/a", "ok", "none"], row
    rc, out, _ = run_cli(capsys, "models", "--json")
    assert rc == 0 and json.loads(out)[0]["card"] == card(packaged)


@pytest.mark.parametrize("damage", ["corrupt", "missing", "card"])
def test_a_damaged_packaged_model_is_one_line_exit_2(packaged, capsys, damage):
    if damage == "corrupt":
        (packaged / "tiny.onnx").write_bytes(b"\x08\x01garbage")
    elif damage == "missing":
        (packaged / "tiny.onnx").unlink()
    else:
        (packaged / "tiny.json").write_text(json.dumps({k: v for k, v in card(packaged).items() if k != "data_terms"}))
    rc, out, err = run_cli(capsys, "models")
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "tiny" in err
    assert ("DAMAGED" in out) if damage == "corrupt" else not out


def test_verify_without_a_threshold_uses_the_packaged_cards(packaged, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(pretrained.card_threshold, "__defaults__", (packaged,))
    images, labels = generated_faces(n_ids=2, per_id=2, size=32, seed=4)
    write_identity_folder(tmp_path / "faces", images, labels, ["a", "b"])
    a, b = sorted((tmp_path / "faces" / "a").iterdir())
    rc, _, err = run_cli(capsys, "verify", a, b)
    assert rc == 2 and "no verification threshold" in err  # the card has none yet
    base = card(packaged)
    for threshold, expect in ((-1.0, 0), (1.0, 1)):  # every score passes / none does (a and b differ)
        (packaged / "tiny.json").write_text(json.dumps({**base, "thresholds": {"verify": threshold}}))
        rc, out, _ = run_cli(capsys, "verify", a, b, "--json")
        doc = json.loads(out)
        assert rc == expect and doc["threshold"] == threshold and "model card of tiny" in doc["threshold_source"]


def test_every_packaged_model_has_a_complete_card():
    models = pretrained.list_models()
    if not models:
        pytest.skip("no packaged model in lrface/pretrained")
    for m in models:  # the sha256 against its file: tests/test_model_integrity.py
        assert "LFW" in json.dumps(m.card["accuracy"]) and "research" in m.card["data_terms"]


def test_identify_with_the_packaged_default_model(tmp_path, capsys):
    if not pretrained.list_models():
        pytest.skip("no packaged model in lrface/pretrained")
    images, labels = generated_faces(n_ids=5, per_id=6, size=32, seed=3)
    names = [f"person{i}" for i in range(5)]
    enrol, probe = labels.copy(), [i * 6 for i in range(5)]  # image 0 of each identity is the probe
    keep = [i for i in range(len(labels)) if i not in probe]
    write_identity_folder(tmp_path / "gallery", images[keep], enrol[keep], names)
    write_identity_folder(tmp_path / "probes", images[probe], labels[probe], names)
    rc, _, err = run_cli(capsys, "gallery", "build", tmp_path / "gallery", "--out", tmp_path / "g")
    assert rc == 0, err
    right = 0
    for k in range(5):
        f = next((tmp_path / "probes" / names[k]).iterdir())
        rc, out, err = run_cli(capsys, "identify", f, "--gallery", tmp_path / "g", "--top-k", "1")
        assert rc == 0, err
        right += out.strip().splitlines()[-1].split("\t")[1] == names[k]  # probe, best identity, matches
    assert right >= 4, right
