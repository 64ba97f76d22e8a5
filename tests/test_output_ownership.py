"""Outputs own nothing they read: an --out that is, contains or lies inside an input of the same command is
refused (so --force never deletes an input), and a new --out is claimed before work starts, so that a second
command writing it at the same time is refused instead of both reporting success."""

from __future__ import annotations

import pytest

from lrface.cli import main
from lrface.errors import UserError
from lrface.fileio import check_not_input, claim_output
from tests.conftest import make_identity_set

SMOKE = ["--config", "configs/face/orl-smoke.yaml"]


def refused(capsys, rc, *needles):
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "Traceback" not in err[0], err
    for n in needles:
        assert n in err[0], err[0]


def test_check_not_input_is_contains_lies_inside(tmp_path):
    data = tmp_path / "set"
    (data / "train").mkdir(parents=True)
    for out, how in ((data, "is"), (tmp_path, "contains"), (data / "run", "lies inside")):
        with pytest.raises(UserError, match=f"{how} data.path"):
            check_not_input(out, [("data.path", str(data))])
    check_not_input(tmp_path / "other", [("data.path", str(data))])  # beside it: fine
    check_not_input(tmp_path / "nope" / "x", [("data.path", str(tmp_path / "missing"))])  # a missing input: fine
    model = data / "m.onnx"
    model.write_bytes(b"x")
    check_not_input(data / "x.npy", [("--model", str(model))], kind="file")  # a file beside an input: fine
    with pytest.raises(UserError, match="is --model"):
        check_not_input(model, [("--model", str(model))], kind="file")


def test_train_init_run_as_out_with_force_keeps_the_run(tmp_path, capsys):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "best.pt").write_bytes(b"weights")
    argv = ["train", *SMOKE, "--init", str(run), "--out", str(run), "--force"]
    refused(capsys, main(argv), f"--out {run} is --init {run}", "choose another --out")
    assert (run / "checkpoints" / "best.pt").read_bytes() == b"weights"


@pytest.mark.parametrize("where", ["same", "inside", "above"])
def test_train_data_as_out_with_force_keeps_the_data(tmp_path, capsys, where):
    data = make_identity_set(tmp_path / "set", identities=2, per_identity=2)
    out = {"same": data, "inside": data / "run", "above": tmp_path}[where]
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    refused(
        capsys, main(["train", *SMOKE, "--data", str(data), "--out", str(out), "--force"]), "which this command reads"
    )
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_train_data_path_from_set_is_an_input_too(tmp_path, capsys):
    data = make_identity_set(tmp_path / "set", identities=2, per_identity=2)
    rc = main(["train", *SMOKE, "--set", f"data.path={data}", "--out", str(data), "--force"])
    refused(capsys, rc, "is data.path")
    assert len(list(data.rglob("*.png"))) == 4


def test_prepare_and_gallery_build_refuse_their_inputs(tmp_path, capsys):
    faces = make_identity_set(tmp_path / "faces", identities=2, per_identity=2)
    refused(capsys, main(["prepare", "folder", str(faces), "--out", str(faces), "--force"]), "is the input")
    models = tmp_path / "models"
    models.mkdir()
    (models / "m.onnx").write_bytes(b"not read: refused before")
    rc = main(["gallery", "build", str(faces), "--model", str(models / "m.onnx"), "--out", str(models), "--force"])
    refused(capsys, rc, "contains --model")
    assert (models / "m.onnx").exists() and len(list(faces.rglob("*.png"))) == 4


def test_a_claimed_out_refuses_a_second_writer_and_is_released(tmp_path, capsys):
    faces = make_identity_set(tmp_path / "faces", identities=2, per_identity=2)
    out = tmp_path / "g"
    with claim_output(out):  # another command is building it
        refused(capsys, main(["gallery", "build", str(faces), "--out", str(out)]), "another lrface command is writing")
        with pytest.raises(UserError, match="another lrface command"):
            with claim_output(tmp_path / "." / "g"):  # the same output, spelled differently
                pass
        assert not out.exists()
    assert not list(tmp_path.glob(".*lrface-lock"))  # released: no lock file left
    with claim_output(out):  # free again
        pass


def test_a_claimed_run_refuses_a_second_train(tmp_path, capsys):
    data = make_identity_set(tmp_path / "set", identities=2, per_identity=2)
    run = tmp_path / "run"
    with claim_output(run):
        refused(capsys, main(["train", *SMOKE, "--data", str(data), "--out", str(run)]), "another lrface command")
        refused(capsys, main(["train", "--resume", str(run)]), "--resume", "another lrface command")
    assert not run.exists()


def test_api_gallery_create_claims_its_path(tiny, tmp_path):
    from lrface import Gallery, Recognizer

    rec = Recognizer(tiny[1])
    with claim_output(tmp_path / "g"):  # another process is creating it
        with pytest.raises(UserError, match="another lrface command is writing it"):
            Gallery.create(tmp_path / "g", rec)
    assert len(Gallery.create(tmp_path / "g", rec)) == 0
    assert len(Gallery.create(tmp_path / "g", rec, exist_ok=True)) == 0


def test_the_claim_removes_temporary_files_a_killed_writer_of_the_same_output_left(tmp_path):
    target = tmp_path / "emb.npy"
    debris = tmp_path / ".emb.npy.k2j4x9.tmp"  # atomic_path's name for a temporary file of emb.npy
    other = tmp_path / ".other.npy.k2j4x9.tmp"
    debris.write_bytes(b"half")
    other.write_bytes(b"half")
    with claim_output(target):
        assert not debris.exists() and other.exists()


def test_prepare_resumes_an_out_holding_only_a_work_cache_just_begun(tmp_path):
    from lrface.prep.options import WORK_DIR, check_out_dir

    out = tmp_path / "packed"
    (out / WORK_DIR).mkdir(parents=True)
    (out / WORK_DIR / ".run.json.x1y2.tmp").write_text("{")  # killed before run.json was renamed into place
    check_out_dir(out, force=False)
    (out / "notes.txt").write_text("someone else's")
    with pytest.raises(UserError, match="exists and is not a packed set"):
        check_out_dir(out, force=False)
