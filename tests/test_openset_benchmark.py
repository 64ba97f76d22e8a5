"""The open-set benchmark plan (verify: pairs + images): raw pixels and trained students scored on pairs."""

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from lrface.benchmark.openset import raw_pixel_embeddings
from lrface.cli import main
from lrface.evaluation.pair_align import aligned_pair_images
from lrface.evaluation.verification import metrics_from_embeddings, parse_pairs
from tests.conftest import make_identity_set
from tests.serving_helpers import generated_faces, write_identity_folder
from tests.test_train_cli import one_line_error

ROOT = Path(__file__).resolve().parents[1]


def lfw_like(root: Path) -> Path:
    """Six people, three photos each, and a 2-fold pairs file over them."""
    images, labels = generated_faces(n_ids=6, per_id=3, seed=3)
    for i in range(6):
        write_identity_folder(root / "img", images[labels == i], np.zeros(3, np.int64), [f"P{i}"], ext=".jpg")
        for j in range(3):
            (root / "img" / f"P{i}" / f"{j:04d}.jpg").rename(root / "img" / f"P{i}" / f"P{i}_{j + 1:04d}.jpg")
    same = [f"P{i} 1 {2 + i % 2}" for i in range(6)]
    diff = [f"P{i} 1 P{(i + 1) % 6} 2" for i in range(6)]
    (root / "pairs.txt").write_text("2 3\n" + "\n".join(same[:3] + diff[:3] + same[3:] + diff[3:]) + "\n")
    return root


def test_openset_benchmark_rows(tmp_path, capsys):
    lfw = lfw_like(tmp_path / "lfw")
    data = make_identity_set(tmp_path / "faces", identities=8, per_identity=6)
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        yaml.safe_dump(
            {
                "config": str(ROOT / "configs/face/orl-smoke.yaml"),
                "data": str(data),
                "verify": {"pairs": str(lfw / "pairs.txt"), "images": str(lfw / "img")},
                "methods": ["raw-pixels", "student-only", "student-cosface"],
                "ablations": {"student-cosface": {"strategy": "student-only", "head.type": "cosface"}},
                "set": {
                    "student.arch": "resnet_tiny",
                    "teacher.arch": "resnet_tiny",
                    "guided.width": 8,
                    "train.epochs": 1,
                    "train.batch_size": 16,
                    "train.threads": 1,
                    "data.val_identities": 3,
                    "data.val_pairs": 20,
                    "data.min_per_class": 1,
                },
            }
        )
    )
    out = tmp_path / "bench"
    assert main(["benchmark", "--plan", str(plan), "--out", str(out)]) == 0
    report = json.loads((out / "results.json").read_text())
    rows = report["methods"]
    assert list(rows) == ["raw-pixels", "student-only", "student-cosface"]
    # every row's LFW numbers are what `lrface evaluate --pairs` measures on its own for that model
    capsys.readouterr()
    pixels = raw_pixel_embeddings(aligned_pair_images(parse_pairs(lfw / "pairs.txt"), lfw / "img", 16, log=print)[0])
    alone, _ = metrics_from_embeddings(parse_pairs(lfw / "pairs.txt"), pixels)
    assert rows["raw-pixels"]["lfw_acc"] == pytest.approx(100 * alone["accuracy"])
    for name in ("student-only", "student-cosface"):
        assert (
            main(
                [
                    "evaluate",
                    "--pairs",
                    str(lfw / "pairs.txt"),
                    "--images",
                    str(lfw / "img"),
                    "--model",
                    rows[name]["onnx"],
                    "--json",
                    "--out",
                    str(tmp_path / f"eval-{name}"),
                ]
            )
            == 0
        )
        alone = json.loads(capsys.readouterr().out)
        assert rows[name]["lfw_acc"] == pytest.approx(100 * alone["accuracy"]), name
        assert rows[name]["lfw_auc"] == pytest.approx(alone["auc"]), name
    assert rows["student-cosface"]["head"] == "cosface" and rows["student-only"]["head"] == "softmax"
    for name in ("student-only", "student-cosface"):
        assert "val_open_acc" in rows[name] and Path(rows[name]["onnx"]).is_file()
        assert rows[name]["classifier_params"] < rows[name]["embedding_params"]
    assert "| student-cosface | cosface |" in (out / "results.md").read_text()
    # a second run reuses the finished trainings
    capsys.readouterr()
    assert main(["benchmark", "--plan", str(plan), "--out", str(out)]) == 0
    assert capsys.readouterr().err.count("reusing the finished run") == 2


def test_openset_plan_errors(tmp_path, capsys):
    plan = tmp_path / "plan.yaml"
    plan.write_text("verify: {pairs: x}\n")
    rc = main(["benchmark", "--plan", str(plan), "--out", str(tmp_path / "o")])
    one_line_error(capsys, rc, "verify needs exactly pairs")
    plan.write_text(
        yaml.safe_dump({"config": str(ROOT / "configs/face/orl-smoke.yaml"), "verify": {"pairs": "p", "images": "i"}})
    )
    rc = main(["benchmark", "--plan", str(plan), "--out", str(tmp_path / "o"), "--methods", "student-only"])
    one_line_error(capsys, rc, "data.val_identities")
