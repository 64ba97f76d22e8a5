"""`lrface benchmark` end to end on a generated identity set with tiny models (CPU, one epoch)."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest

from lrface.cli import main
from lrface.data.packed import read_packed_set
from tests.conftest import make_identity_set

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TINY = [
    "student.arch=resnet_tiny",
    "teacher.arch=resnet_tiny",
    "guided.count=1",
    "guided.width=8",
    "train.epochs=1",
    "train.batch_size=16",
    "data.val_fraction=0.2",
    "train.threads=1",
    "optim.milestones=[]",
]


def _sets(items):
    return [x for s in items for x in ("--set", s)]


def test_benchmark_end_to_end(tmp_path, capsys):
    """Two worker processes (kd must wait for teacher-only), then a sequential re-run that reuses every run."""
    faces = make_identity_set(tmp_path / "faces", identities=10, per_identity=10)
    out = tmp_path / "bench"
    args = [
        "benchmark",
        "--data",
        str(faces),
        "--out",
        str(out),
        "--no-align",
        "--methods",
        "student-only,kd,ekd",
        *_sets(TINY),
    ]
    assert main(args + ["--jobs", "2"]) == 0
    report = json.loads((out / "results.json").read_text())
    assert "results.md" in capsys.readouterr().err
    assert main(args) == 0
    assert capsys.readouterr().err.count("reusing the finished run") == 4
    again = json.loads((out / "results.json").read_text())
    assert [again["methods"][m]["test_top1_student"] for m in ("student-only", "kd", "ekd")] == [
        report["methods"][m]["test_top1_student"] for m in ("student-only", "kd", "ekd")
    ]
    assert list(report["methods"]) == ["student-only", "teacher-only", "kd", "ekd"]
    from lrface.engine.checkpoint import load_student
    from lrface.engine.metrics_log import read_metrics
    from lrface.evaluation.evaluate import evaluate_packed

    for name in ("student-only", "kd", "ekd"):
        r = report["methods"][name]
        best = next(row for row in read_metrics(out / "runs" / name) if row["epoch"] == r["best_epoch"])
        assert r["test_top1_student"] == best["test_top1_student"]  # the val-selected epoch's test top-1
        onnx = out / "runs" / name / "export" / "student.onnx"
        assert r["gallery_top1"] == 100 * evaluate_packed(out / "data", onnx, [], 20, warn=print)["top1"]
        backbone, _ = load_student(out / "runs" / name)  # the deployed network, built again from the checkpoint
        assert r["student_params"] == sum(p.numel() for p in backbone.parameters()) and onnx.is_file()
    last = read_metrics(out / "runs" / "ekd")[-1]
    gap = last["test_top1_teacher"] - last["test_top1_student"]
    assert report["methods"]["ekd"]["final_gap"] == pytest.approx(gap)
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
    rc = main(
        [
            "benchmark",
            "--data",
            str(faces),
            "--out",
            str(tmp_path / "b"),
            "--no-align",
            "--methods",
            "student-only,fitnet",
        ]
    )
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "unknown method 'fitnet'" in err
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize("per_identity,val", [(1, "0"), (2, "0"), (4, "0.15")])
def test_too_few_images_stops_before_training(tmp_path, capsys, per_identity, val):
    faces = make_identity_set(tmp_path / "faces", identities=4, per_identity=per_identity)
    rc = main(
        [
            "benchmark",
            "--data",
            str(faces),
            "--out",
            str(tmp_path / "b"),
            "--no-align",
            "--methods",
            "student-only",
            "--set",
            f"data.val_fraction={val}",
        ]
    )
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
    plan_path.write_text(
        "config: base.yaml\nmethods: [student-only, ekd-t2]\n"
        "ablations: {ekd-t2: {loss.temperature: 2}}\nset: {train.epochs: 3}\n"
    )
    plan = read_plan(plan_path)
    assert plan.config == (tmp_path / "base.yaml").resolve() and plan.overrides == ["train.epochs=3"]
    assert plan.methods == ["student-only", "ekd-t2"] and plan.ablations == {"ekd-t2": {"loss.temperature": 2}}
    plan_path.write_text("methods: [ekd]\nepochs: 3\n")
    with pytest.raises(UserError, match="unknown keys"):
        read_plan(plan_path)


def _fake_report(path, seed, top1):
    """A results.json as `lrface benchmark` writes it, with only what the summary reads."""
    path.mkdir(parents=True)
    methods = {
        name: {
            "description": name,
            "test_top1_student": v,
            "gallery_top1": None if v is None else v - 1,
            "test_top1_teacher": 50.0 if name != "student-only" else None,
        }
        for name, v in top1.items()
    }
    (path / "results.json").write_text(json.dumps({"seed": seed, "command": "x", "methods": methods}))
    return str(path)


def test_summary_over_seeds_matches_hand_computed_statistics(tmp_path, capsys):
    """kd 40/42/44 and ekd 43/42/47: differences 3, 0, 3 -> mean 2, sd sqrt(3), 95 % half-width
    t(0.975, 2) * sqrt(3) / sqrt(3) = 4.302653, two wins (a tie is not a win)."""
    dirs = [
        _fake_report(tmp_path / f"s{s}", s, {"student-only": so, "kd": kd, "ekd": ekd})
        for s, so, kd, ekd in ((5, 38.0, 40.0, 43.0), (6, 39.0, 42.0, 42.0), (7, 40.0, 44.0, 47.0))
    ]
    assert main(["benchmark", "--out", str(tmp_path / "sum"), "--summarize", *dirs]) == 0
    summary = json.loads((tmp_path / "sum" / "summary.json").read_text())
    assert [r["seed"] for r in summary["runs"]] == [5, 6, 7]
    kd = summary["methods"]["kd"]["test_top1_student"]
    assert kd["values"] == [40.0, 42.0, 44.0] and kd["mean"] == pytest.approx(42.0) and kd["sd"] == pytest.approx(2.0)
    d = summary["paired_student_top1"]["kd"]["ekd"]
    assert d["mean"] == pytest.approx(2.0) and d["sd"] == pytest.approx(3**0.5) and (d["wins"], d["n"]) == (2, 3)
    assert d["ci95"] == pytest.approx([2.0 - 4.302653, 2.0 + 4.302653], abs=1e-5)
    assert summary["paired_student_top1"]["student-only"]["kd"]["mean"] == pytest.approx(3.0)
    assert "kd" not in summary["paired_student_top1"]["kd"]
    table = (tmp_path / "sum" / "summary.md").read_text()
    assert "| ekd | 3 | 44.00 (2.65) | 43.00 / 42.00 / 47.00 |" in table
    assert "| ekd | +5.00 [" in table and "+2.00 [-2.30, +6.30], 2/3 |" in table
    capsys.readouterr()
    rc = main(["benchmark", "--out", str(tmp_path / "sum2"), "--summarize", dirs[0], str(tmp_path / "nothing")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "no results.json" in err
    assert not (tmp_path / "sum2").exists()


def test_benchmark_over_seeds_shares_the_split_and_writes_a_summary(tmp_path, capsys):
    faces = make_identity_set(tmp_path / "faces", identities=6, per_identity=8)
    out = tmp_path / "bench"
    assert (
        main(
            [
                "benchmark",
                "--data",
                str(faces),
                "--out",
                str(out),
                "--no-align",
                "--methods",
                "student-only",
                "--seeds",
                "3,4",
                *_sets(TINY),
            ]
        )
        == 0
    )
    summary = json.loads((out / "summary.json").read_text())
    assert [r["seed"] for r in summary["runs"]] == [3, 4]
    assert summary["methods"]["student-only"]["test_top1_student"]["n"] == 2
    tests = [json.loads((out / f"seed-{s}" / "data" / "manifest.json").read_text())["splits"] for s in (3, 4)]
    assert tests[0] == tests[1]
    a, b = (read_packed_set(out / f"seed-{s}" / "data") for s in (3, 4))
    assert np.array_equal(a.splits["test"][1], b.splits["test"][1]) and np.array_equal(
        a.splits["test"][0], b.splits["test"][0]
    )
    rc = main(["benchmark", "--data", str(faces), "--out", str(tmp_path / "b2"), "--seeds", "3,x"])
    assert rc == 2 and "--seeds" in capsys.readouterr().err


FACE_CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs" / "face").glob("*.yaml"))


@pytest.mark.parametrize("path", FACE_CONFIGS, ids=[p.stem for p in FACE_CONFIGS])
def test_face_configs_and_plans_load(path):
    """Every face config loads through the schema; every benchmark plan names known methods and a
    base config that loads with each method's overrides."""
    import yaml

    from lrface.benchmark import check_methods, method_config, read_plan
    from lrface.config import load_config

    if "methods" not in yaml.safe_load(path.read_text()):
        assert load_config(path).student.arch == "sresnet18"
        return
    plan = read_plan(path)
    order = check_methods(plan)
    for name in order:
        cfg = method_config(plan, name, None if plan.verify else Path("data"), Path("runs/teacher-only"))
        assert (cfg.data.val_identities > 0 if plan.verify else cfg.data.kind == "packed") and cfg.name == name


def test_each_method_description_says_what_its_config_trains():
    """teacher-only is plain (CE only); kd-et and ekd name the ramp and the mutual term they inherit."""
    from lrface.benchmark import method_config, read_plan
    from lrface.benchmark.run import describe

    plan = read_plan(Path(__file__).resolve().parents[1] / "configs" / "face" / "celeba-wild-benchmark.yaml")
    text = {
        n: describe(n, method_config(plan, n, Path("data"), Path("runs/teacher-only")))
        for n in ("teacher-only", "kd", "kd-et", "ekd", "ekd-warm")
    }
    assert text["teacher-only"].endswith("runs: teacher resnet18: ce")
    assert "fixed, from a trained checkpoint); student sresnet18: ce + cross_kl" in text["kd"]
    assert "guided" not in text["kd"] and "ramped" not in text["kd"] and "mutual" not in text["kd"]
    for n in ("kd-et", "ekd"):
        assert "ramped in over 10 epochs" in text[n] and "mutual" in text[n] and "full" not in text[n]
    assert "guided" not in text["kd-et"].split("runs:")[1] and "3 guided modules" in text["ekd"]
    assert "from a trained checkpoint) + 3 guided modules" in text["ekd-warm"] and "ramped" not in text["ekd-warm"]
