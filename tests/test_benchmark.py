"""`lrface benchmark` end to end on a generated identity set with tiny models (CPU, one epoch)."""

from __future__ import annotations

import json

import matplotlib.image as mpimg
import pytest

from lrface.cli import main
from tests.conftest import make_identity_set

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TINY = ["student.arch=resnet_tiny", "teacher.arch=resnet_tiny", "guided.count=1", "guided.width=8",
        "train.epochs=1", "train.batch_size=16", "data.val_fraction=0.2", "train.threads=1", "optim.milestones=[]"]


def _sets(items):
    return [x for s in items for x in ("--set", s)]


def test_benchmark_end_to_end(tmp_path, capsys):
    """Two worker processes (kd must wait for teacher-only), then a sequential re-run that reuses every run."""
    faces = make_identity_set(tmp_path / "faces", identities=10, per_identity=10)
    out = tmp_path / "bench"
    args = ["benchmark", "--data", str(faces), "--out", str(out), "--no-align", "--methods", "student-only,kd,ekd",
            *_sets(TINY)]
    assert main(args + ["--jobs", "2"]) == 0
    report = json.loads((out / "results.json").read_text())
    assert "results.md" in capsys.readouterr().err
    assert main(args) == 0
    assert capsys.readouterr().err.count("reusing the finished run") == 4
    again = json.loads((out / "results.json").read_text())
    assert [again["methods"][m]["test_top1_student"] for m in ("student-only", "kd", "ekd")] == \
        [report["methods"][m]["test_top1_student"] for m in ("student-only", "kd", "ekd")]
    assert list(report["methods"]) == ["student-only", "teacher-only", "kd", "ekd"]
    for name in ("student-only", "kd", "ekd"):
        r = report["methods"][name]
        assert 0 <= r["test_top1_student"] <= 100 and 0 <= r["gallery_top1"] <= 100
        assert r["student_params"] > 0 and (out / "runs" / name / "export" / "student.onnx").is_file()
    assert report["methods"]["ekd"]["final_gap"] is not None
    assert report["methods"]["teacher-only"].get("gallery_top1") is None
    table = (out / "results.md").read_text()
    rows = [line.split("|")[1].strip() for line in table.splitlines() if line.startswith("| ") and "---" not in line]
    assert rows == ["method", "student-only", "teacher-only", "kd", "ekd"]
    assert sorted(report["pictures"]) == ["capability_gap.png", "cmc.png", "training_curves.png", "tsne.png"]
    for name in report["pictures"]:
        assert (out / name).read_bytes()[:8] == PNG_SIGNATURE
        assert mpimg.imread(out / name).shape[0] > 100


def test_unknown_method_stops_before_training(tmp_path, capsys):
    faces = make_identity_set(tmp_path / "faces", identities=3, per_identity=6)
    rc = main(["benchmark", "--data", str(faces), "--out", str(tmp_path / "b"), "--no-align",
               "--methods", "student-only,fitnet"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "unknown method 'fitnet'" in err
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize("per_identity,val", [(1, "0"), (2, "0"), (4, "0.15")])
def test_too_few_images_stops_before_training(tmp_path, capsys, per_identity, val):
    faces = make_identity_set(tmp_path / "faces", identities=4, per_identity=per_identity)
    rc = main(["benchmark", "--data", str(faces), "--out", str(tmp_path / "b"), "--no-align",
               "--methods", "student-only", "--set", f"data.val_fraction={val}"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1, err
    assert "identit" in err
    assert not (tmp_path / "b" / "runs").exists()


def test_ablations_and_method_order():
    from lrface.benchmark import Plan, check_methods, parse_ablation

    name, sets = parse_ablation("ekd-g1:guided.count=1,loss.temperature=2")
    assert (name, sets) == ("ekd-g1", {"guided.count": 1, "loss.temperature": 2})
    plan = Plan(methods=["kd", "ekd-g1"], ablations={name: sets})
    assert check_methods(plan) == ["teacher-only", "kd", "ekd-g1"]
    assert plan.method_overrides("ekd-g1") == {"strategy": "ekd", "guided.count": 1, "loss.temperature": 2}
    warm = Plan(methods=["student-only", "ekd-warm"], ablations={"ekd-warm": {"teacher.checkpoint": "teacher-only"}})
    assert check_methods(warm) == ["student-only", "teacher-only", "ekd-warm"]


def test_plan_file_is_read_and_checked(tmp_path):
    from lrface.benchmark import read_plan
    from lrface.errors import UserError

    (tmp_path / "base.yaml").write_text("strategy: ekd\n")
    plan_path = tmp_path / "plan.yaml"
    plan_path.write_text("config: base.yaml\nmethods: [student-only, ekd-t2]\n"
                         "ablations: {ekd-t2: {loss.temperature: 2}}\nset: {train.epochs: 3}\n")
    plan = read_plan(plan_path)
    assert plan.config == (tmp_path / "base.yaml").resolve() and plan.overrides == ["train.epochs=3"]
    assert plan.methods == ["student-only", "ekd-t2"] and plan.ablations == {"ekd-t2": {"loss.temperature": 2}}
    plan_path.write_text("methods: [ekd]\nepochs: 3\n")
    with pytest.raises(UserError, match="unknown keys"):
        read_plan(plan_path)
