"""`lrface export --onnx`: round trip against torch, metadata, dynamic batch, failure leaves nothing."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pytest
import torch
from serving_helpers import generated_faces, make_run

from lrface.cli import main
from lrface.engine.checkpoint import load_student
from lrface.errors import UserError
from lrface.preprocess import PreprocessSpec, preprocess


def test_round_trip_matches_torch_with_dynamic_batch(tiny):
    run, onnx_path = tiny
    model, meta = load_student(run)
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    props = sess.get_modelmeta().custom_metadata_map
    assert json.loads(props["lrface.class_names"]) == meta["class_names"]
    assert int(props["lrface.embedding_dim"]) == meta["embedding_dim"] == 16
    assert props["lrface.input_size"] == "16" and props["lrface.channel_order"] == "RGB"
    assert len(props["lrface.fingerprint"]) == 64
    images, _ = generated_faces(seed=3)
    for n in (1, 5, len(images)):  # dynamic batch axis
        x = preprocess(images[:n], PreprocessSpec.from_dict(meta["preprocess"]))
        emb, logits = sess.run(["embedding", "logits"], {"image": x})
        with torch.no_grad():
            t_logits, t_feat = model(torch.from_numpy(x))
        assert emb.shape == (n, 16) and logits.shape == (n, 6)
        assert np.abs(logits - t_logits.numpy()).max() <= 1e-4
        assert np.abs(emb - torch.nn.functional.normalize(t_feat, dim=1).numpy()).max() <= 1e-4
        np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)


def test_cli_export_reports_real_input_check_and_writes_atomically(tiny, tmp_path, capsys):
    run, _ = tiny
    out = tmp_path / "m.onnx"
    assert main(["export", "--onnx", str(run), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "real (" in text and "max |onnxruntime - torch|" in text and out.is_file()
    assert list(tmp_path.iterdir()) == [out]


def test_disagreement_fails_and_leaves_no_file(tiny, tmp_path, monkeypatch):
    import lrface.export as ex

    monkeypatch.setattr(ex, "TOLERANCE", -1.0)  # any difference (even 0) now counts as too large
    with pytest.raises(UserError, match="disagrees with torch"):
        ex.export_onnx(tiny[0], tmp_path / "bad.onnx", log=lambda m: None)
    assert list(tmp_path.iterdir()) == []


def test_int8_quantization_reports_agreement(tiny, tmp_path, capsys):
    out = tmp_path / "q.onnx"
    assert main(["export", "--onnx", str(tiny[0]), "--out", str(out), "--quantize", "int8"]) == 0
    assert "top-1 agreement" in capsys.readouterr().out
    props = ort.InferenceSession(str(out)).get_modelmeta().custom_metadata_map
    assert props["lrface.quantization"] == "int8-dynamic"
    fp32 = ort.InferenceSession(str(tiny[1])).get_modelmeta().custom_metadata_map
    assert props["lrface.fingerprint"] != fp32["lrface.fingerprint"]


def test_flip_average_embeds_the_normalised_mean_of_image_and_mirror(tiny, tmp_path):
    run, plain_path = tiny
    out = tmp_path / "f.onnx"
    assert main(["export", "--onnx", str(run), "--out", str(out), "--flip-average"]) == 0
    flip, plain = ort.InferenceSession(str(out)), ort.InferenceSession(str(plain_path))
    props, plain_props = flip.get_modelmeta().custom_metadata_map, plain.get_modelmeta().custom_metadata_map
    assert props["lrface.flip_average"] == "1" and plain_props["lrface.flip_average"] == "0"
    assert props["lrface.fingerprint"] != plain_props["lrface.fingerprint"]  # galleries never mix the two
    images, _ = generated_faces(seed=4)
    x = preprocess(images[:5], PreprocessSpec.from_dict(load_student(run)[1]["preprocess"]))
    e, m = (plain.run(["embedding"], {"image": v})[0] for v in (x, np.ascontiguousarray(x[:, :, :, ::-1])))
    want = (e + m) / np.linalg.norm(e + m, axis=1, keepdims=True)
    got = flip.run(["embedding"], {"image": x})[0]
    assert np.abs(got - want).max() <= 1e-5 and np.abs(got - e).max() > 1e-3
    mirrored = flip.run(["embedding"], {"image": np.ascontiguousarray(x[:, :, :, ::-1])})[0]
    assert np.abs(got - mirrored).max() <= 1e-5  # a face and its mirror image now embed alike


@pytest.mark.parametrize("what", ["missing", "not-a-run", "truncated"])
def test_bad_run_is_one_line_error(tmp_path, capsys, what):
    target = tmp_path / "run"
    if what == "not-a-run":
        target.mkdir()
    elif what == "truncated":
        images, labels = generated_faces(n_ids=2, per_id=2)
        make_run(target, images, labels, ["a", "b"], steps=1)
        capsys.readouterr()
        ckpt = target / "checkpoints" / "best.pt"
        ckpt.write_bytes(ckpt.read_bytes()[:200])
    assert main(["export", "--onnx", str(target)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lrface export: error:") and err.count("\n") == 1
    assert not (target / "export").exists()


def test_export_check_is_relative_for_large_logits():
    """Large logits differ by more than 1e-4 in float32 for no fault of the export; embeddings near 0 may not."""
    from lrface.export import TOLERANCE, scaled_diff

    want = np.array([[5000.0, -3000.0, 0.5]], np.float32)
    assert scaled_diff(want + np.array([[0.05, -0.03, 0.0]], np.float32), want) <= TOLERANCE
    assert scaled_diff(np.array([0.101], np.float32), np.array([0.1], np.float32)) > TOLERANCE
    # a logit near 0 in a row of logits of tens of thousands carries their rounding (seen on a 3-step run)
    want = np.array([[40000.0, -37781.0, 0.3], [0.2, 0.1, -0.1]], np.float32)
    assert scaled_diff(want + np.array([[0.02, 0.02, 0.002], [0, 0, 0]], np.float32), want) <= TOLERANCE
    # ... but the small row keeps its absolute check, and a real fault in the large row is still found
    assert scaled_diff(want + np.array([[0, 0, 0], [0, 0.001, 0]], np.float32), want) > TOLERANCE
    assert scaled_diff(want + np.array([[0, 0, 40.0], [0, 0, 0]], np.float32), want) > TOLERANCE
