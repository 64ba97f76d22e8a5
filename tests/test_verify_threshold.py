"""The default verify threshold: a packaged model card's threshold at FAR 1e-3 on the validation it names,
printed with its FAR; a calibrated gallery and an explicit threshold still come first (one rule for the
CLI, API and service: lrface.inference.threshold.verify_threshold)."""

import json

import pytest

from lrface import pretrained
from lrface.inference.threshold import DEFAULT_FAR, verify_threshold
from tests.serving_helpers import generated_faces, run_cli, write_identity_folder
from tests.test_pretrained import card, packaged  # noqa: F401  (packaged is a fixture)


@pytest.fixture
def pair(tmp_path):
    images, labels = generated_faces(n_ids=2, per_id=2, size=32, seed=4)
    write_identity_folder(tmp_path / "faces", images, labels, ["a", "b"])
    return sorted((tmp_path / "faces" / "a").iterdir())


def write_card(root, **thresholds):
    (root / "tiny.json").write_text(json.dumps({**card(root), "thresholds": thresholds}))


def test_verify_defaults_to_the_cards_far_threshold_and_prints_the_far(packaged, pair, capsys, monkeypatch):  # noqa: F811
    monkeypatch.setattr(pretrained.card_threshold, "__defaults__", (packaged,))
    a, b = pair
    # best accuracy would refuse every pair (1.0); the FAR 1e-3 threshold accepts every pair (-1)
    write_card(packaged, verify=1.0, verify_far={"0.01": 1.0, "0.001": -1.0}, default_far=0.001)
    rc, out, _ = run_cli(capsys, "verify", a, b)
    assert rc == 0 and out.startswith("same\t") and "threshold -1.0000 at FAR 0.001 (model card of tiny" in out
    rc, out, _ = run_cli(capsys, "verify", a, b, "--json")
    doc = json.loads(out)
    assert rc == 0 and doc["threshold"] == -1.0 and doc["threshold_far"] == 0.001
    assert "FAR 0.001 on its open-set validation" in doc["threshold_source"]
    rc, out, _ = run_cli(capsys, "verify", a, b, "--threshold", "1.0", "--json")
    assert rc == 1 and json.loads(out)["threshold_far"] is None  # an explicit threshold states no FAR
    # a card whose thresholds come from another validation says so in the answer
    write_card(packaged, verify=1.0, verify_far={"0.001": -1.0}, validation="the unseen-people validation")
    rc, out, _ = run_cli(capsys, "verify", a, b, "--json")
    assert "FAR 0.001 on the unseen-people validation" in json.loads(out)["threshold_source"]


def test_a_card_names_its_default_far(packaged, pair, capsys, monkeypatch):  # noqa: F811
    monkeypatch.setattr(pretrained.card_threshold, "__defaults__", (packaged,))
    a, b = pair
    write_card(packaged, verify=-1.0, verify_far={"0.01": 1.0, "0.001": -1.0}, default_far=0.01)
    rc, out, _ = run_cli(capsys, "verify", a, b, "--json")
    assert rc == 1 and json.loads(out)["threshold_far"] == 0.01
    write_card(packaged, verify=-1.0, verify_far={"0.01": 1.0, "0.001": 1.0})  # no default_far: 1e-3
    rc, out, _ = run_cli(capsys, "verify", a, b, "--json")
    assert rc == 1 and json.loads(out)["threshold_far"] == DEFAULT_FAR


class CalibratedGallery:
    def threshold(self, explicit, kind):
        return 0.3, "gallery calibration (FAR 0.05 on 4 identities, 2026-12-04)"

    def calibrated_far(self):
        return 0.05


class UncalibratedGallery(CalibratedGallery):
    def threshold(self, explicit, kind):
        return None, "the best match is always named"


def test_the_rule_explicit_then_gallery_then_card(packaged, monkeypatch):  # noqa: F811
    monkeypatch.setattr(pretrained.card_threshold, "__defaults__", (packaged,))
    model = packaged / "tiny.onnx"
    write_card(packaged, verify=0.4, verify_far={"0.01": 0.6, "0.001": 0.7})
    assert verify_threshold(0.9, CalibratedGallery(), model)[::2] == (0.9, None)
    assert verify_threshold(None, CalibratedGallery(), model)[::2] == (0.3, 0.05)
    assert verify_threshold(None, UncalibratedGallery(), model)[::2] == (0.7, DEFAULT_FAR)
    assert verify_threshold(None, None, model)[::2] == (0.7, DEFAULT_FAR)
    assert verify_threshold(None, None, packaged / "other.onnx")[0] is None


def test_every_packaged_card_states_a_far_1e3_default_stricter_than_best_accuracy():
    models = pretrained.list_models()
    if not models:
        pytest.skip("no packaged model in lrface/pretrained")
    for m in models:
        value, source, far = pretrained.card_threshold(m.path)
        th = m.card["thresholds"]
        assert far == th["default_far"] == DEFAULT_FAR and value == th["verify_far"]["0.001"], m.name
        assert value > th["verify"] and "FAR 0.001" in source, m.name
        # the validation printed with the answer is the one the card's source describes
        assert th["source"].startswith("the unseen-people validation") == (th.get("validation") is not None), m.name
