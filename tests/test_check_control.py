"""tools/check_control.py: a new run's in-training rows against a study's stored ones, exactly, timings aside."""

import csv
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import check_control  # noqa: E402

ROWS = [
    {"epoch": 1.0, "img_per_s": 350.6, "train_seconds": 81.7, "test_top1_student": 2.1660649819494586, "lr": 0.2},
    {"epoch": 2.0, "img_per_s": 342.8, "train_seconds": 83.6, "test_top1_student": 4.813477737665464, "lr": 0.2},
]


def _setup(tmp_path, rows, stored=ROWS):
    run = tmp_path / "run"
    run.mkdir()
    with open(run / "metrics.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=[*rows[0], "val_open_acc_student"])
        w.writeheader()
        w.writerows({**r, "val_open_acc_student": ""} for r in rows)  # a column the JSON lacks, empty here
    study = tmp_path / "study.json"
    study.write_text(json.dumps({"in_training": {"D90-s6i": stored}}))
    return [str(run), str(study)]


def test_equal_rows_reproduce_whatever_the_timings(tmp_path, capsys):
    rows = [{**r, "img_per_s": 999.0, "train_seconds": 1.0} for r in ROWS]
    assert check_control.main([*_setup(tmp_path, rows), "D90-s6i"]) == 0
    out = capsys.readouterr().out
    assert "| 1 | 2 | - |" in out and out.rstrip().endswith(
        "reproduced: 2 epochs of " + str(tmp_path / "run") + " against D90-s6i"
    )


def test_one_value_in_the_last_digit_is_not_reproduced(tmp_path, capsys):
    rows = [ROWS[0], {**ROWS[1], "test_top1_student": 4.813477737665465}]
    assert check_control.main([*_setup(tmp_path, rows), "D90-s6i"]) == 1
    assert "| 2 | 2 | test_top1_student |" in capsys.readouterr().out


def test_a_run_shorter_than_the_stored_one_compares_its_own_epochs(tmp_path, capsys):
    assert check_control.main([*_setup(tmp_path, ROWS[:1]), "D90-s6i"]) == 0
    assert "reproduced: 1 epochs" in capsys.readouterr().out


def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    args = _setup(tmp_path, ROWS)
    assert check_control.main([*args, "D60-s6i"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "keeps no in-training rows for 'D60-s6i' (it has: D90-s6i)" in err[0]
    assert check_control.main([str(tmp_path), args[1], "D90-s6i"]) == 2
    assert "has no metrics.csv" in capsys.readouterr().err
    assert check_control.main([args[0], str(tmp_path / "none.json"), "D90-s6i"]) == 2
    assert "is not a file" in capsys.readouterr().err
