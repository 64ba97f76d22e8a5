"""The whole product through the CLI: prepare -> train -> export -> gallery build -> identify."""

import json

from lrface.cli import main
from tests.conftest import make_identity_set, shared_data


def run_pipeline(tmp_path, raw, capsys, train_overrides):
    packed, run, gallery = tmp_path / "packed", tmp_path / "run", tmp_path / "gallery"
    assert main(["prepare", "folder", str(raw), "--out", str(packed), "--split-fraction", "0.3", "--seed", "1"]) == 0
    assert main(["train", "--config", "configs/face/orl-smoke.yaml", "--data", str(packed), "--out", str(run),
                 *[a for kv in train_overrides for a in ("--set", kv)]]) == 0
    assert main(["export", "--onnx", str(run)]) == 0
    onnx = run / "export" / "student.onnx"
    assert main(["gallery", "build", str(raw), "--model", str(onnx), "--out", str(gallery)]) == 0
    capsys.readouterr()
    probes = sorted(p for p in raw.iterdir() if p.is_dir())
    assert main(["identify", *[str(sorted(d.iterdir())[0]) for d in probes], "--gallery", str(gallery),
                 "--json", "--top-k", "3"]) == 0
    return json.loads(capsys.readouterr().out), probes


def test_pipeline_on_generated_faces(tmp_path, capsys):
    raw = make_identity_set(tmp_path / "raw", identities=5, per_identity=10, size=48)
    results, probes = run_pipeline(tmp_path, raw, capsys, [
        "teacher.arch=resnet_tiny", "student.arch=resnet_tiny", "guided.width=8", "train.epochs=6",
        "train.batch_size=16", "train.threads=1", "optim.milestones=[4]"])
    assert len(results) == len(probes)
    hits = sum(r["matches"][0]["identity"] == p.name for r, p in zip(results, probes))
    assert hits >= 4  # 5 identities; gallery = every image incl. the probe's own


def test_pipeline_on_orl(tmp_path, capsys):
    orl = shared_data("orl")
    results, probes = run_pipeline(tmp_path, orl, capsys, [
        "teacher.arch=resnet_tiny", "train.epochs=8", "train.threads=1", "optim.milestones=[6]"])
    hits = sum(r["matches"][0]["identity"] == p.name for r, p in zip(results, probes))
    assert hits >= 24  # 40 people, chance is 1; the trained 0.61 M student gets most of them
