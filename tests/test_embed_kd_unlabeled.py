"""Faces with no label for the frozen model's terms (``embed_kd.unlabeled``, lrface/data/unlabeled.py): they join
the student's input and the model's targets, never a labeled term; each epoch draws all of them before any twice;
the validation's and data.exclude's people are dropped by name; resume stays bit-exact; bad settings are one line,
exit 2, before a run directory is written."""

import copy

import numpy as np
import pytest
import torch

from lrface.cli import main
from lrface.config import load_config
from lrface.data.sources import load_data
from lrface.data.unlabeled import load_unlabeled
from lrface.distill import losses
from lrface.distill.relation import relation_kl
from lrface.engine.batches import train_batches, unlabeled_order
from lrface.engine.trainer import Trainer
from lrface.errors import UserError
from lrface.inference.embedder import Embedder
from lrface.pretrained import resolve_model
from tests.conftest import TINY_TRAIN, make_identity_set
from tests.test_embed_kd import MODEL, ON
from tests.test_engine import assert_same_streams, resume, tiny_cfg, tiny_data
from tests.test_speed_switches import ALL_ON

UL = [*ON, "embed_kd.unlabeled=[unused: the tests set the faces]", "embed_kd.unlabeled_batch=4"]


def with_unlabeled(n: int = 10):
    """tiny_data with ``n`` further faces (another draw) as embed_kd.unlabeled's."""
    data = tiny_data()
    data.unlabeled = tiny_data(seed=3).splits["train"][0][:n]
    return data


def test_unlabeled_order_draws_every_face_once_before_any_twice():
    order = unlabeled_order(10, 3, 4, epoch_seed=7)
    assert len(order) == 12 and sorted(order[:10]) == list(range(10))
    np.testing.assert_array_equal(order, unlabeled_order(10, 3, 4, epoch_seed=7))
    assert not np.array_equal(order, unlabeled_order(10, 3, 4, epoch_seed=8))


def test_unlabeled_faces_join_the_students_input_and_the_targets_only(tmp_path):
    tr = Trainer(tiny_cfg(*UL, "embed_kd.teacher_weight=1.0"), with_unlabeled(), tmp_path)
    x, y, idx = next(train_batches(tr, 1))
    assert x["student"].shape[0] == 12 and x["teacher"].shape[0] == 8 and len(y) == len(idx) == 8
    torch.testing.assert_close(x["student"][:8], x["teacher"], rtol=0, atol=0)  # one view, augmentation off
    faces = tr.data.unlabeled[unlabeled_order(10, 3, 4, 1)[:4]]
    torch.testing.assert_close(x["student"][8:], tr.to_input(faces), rtol=0, atol=0)
    model = Embedder(resolve_model(MODEL))
    expected = model.embed(np.concatenate([tr.data.splits["train"][0][idx], faces]))
    np.testing.assert_allclose(x["embed_kd"].numpy(), expected, atol=1e-5)
    assert x["embed_kd_teacher"].shape[0] == 8  # the teacher's term: its own (labeled) view only


@pytest.mark.parametrize("parallel", [False, True])
def test_the_labeled_terms_see_the_labeled_rows_and_the_relation_every_row(tmp_path, parallel):
    torch.manual_seed(0)
    tr = Trainer(tiny_cfg(*UL, f"train.parallel_streams={parallel}"), with_unlabeled(), tmp_path)
    for m in tr.streams.values():
        m.train()
    tr.strategy.start_epoch(0)
    x, y, idx = next(train_batches(tr, 1))
    student = copy.deepcopy(tr.streams["student"])  # the same forward (BatchNorm over all 12 rows) as the step
    out = student(x["student"])
    logs = tr.train_step(x, y, idx)
    labeled = out.rows(8)
    ce = losses.eq9_classification([labeled.logits, *labeled.guided_logits], y).detach()
    assert float(logs["student_ce"]) == pytest.approx(float(ce), rel=1e-5)
    assert float(logs["student_embed_kd"]) == pytest.approx(
        float(relation_kl(out.feature, x["embed_kd"], 0.1).detach()), rel=1e-5
    )
    assert out.rows(12) is out and out.rows(8).feature.shape[0] == 8


def test_the_validation_and_excluded_people_are_dropped_by_name(tmp_path):
    faces = make_identity_set(tmp_path / "faces", identities=6, per_identity=5)
    assert len(load_unlabeled([str(faces)], 16, set(), cache=False)) == 30
    assert len(load_unlabeled([str(faces)], 16, {"id_1"}, {"id_2"}, cache=False)) == 20
    assert len(load_unlabeled([str(faces)], 16, {"id_1"}, prefixed=True, cache=False)) == 30  # names differ
    assert len(load_unlabeled([str(faces)], 16, {"faces/id_1"}, prefixed=True, cache=False)) == 25
    # through load_data: data.val_identities holds two people out, their faces leave the unlabeled ones too
    cfg = load_config(
        None, [f"data.path={faces}", "data.val_identities=2", f"embed_kd.unlabeled=[{faces}]", *ON, "data.cache=false"]
    )
    bundle = load_data(cfg)
    assert len(bundle.held_names) == 2 and bundle.unlabeled.shape == (20, 16, 16, 3)


@pytest.mark.parametrize("backend", ["torch", "albumentations"])
def test_resume_stays_bit_exact_with_unlabeled_faces(tmp_path, backend):
    on = [*UL, "augment.enabled=true", f"augment.backend={backend}", *ALL_ON]
    full = Trainer(tiny_cfg("train.epochs=3", *on), with_unlabeled(), tmp_path / "full")
    full.fit()
    Trainer(tiny_cfg("train.epochs=1", *on), with_unlabeled(), tmp_path / "part").fit()
    resumed = resume(tiny_cfg("train.epochs=3", *on), tmp_path / "part", with_unlabeled())
    assert_same_streams(full, resumed, ("student",))


@pytest.mark.parametrize(
    "overrides, needle",
    [
        ([f"embed_kd.model={MODEL}", "embed_kd.teacher_weight=1.0", "embed_kd.unlabeled=[x]"], "student's embed_kd"),
        ([*UL, "embed_kd.unlabeled_batch=0"], "unlabeled_batch 0"),
        ([*UL, "augment.degrade=true"], "augment.degrade"),
    ],
)
def test_bad_settings_are_refused_at_load(overrides, needle):
    with pytest.raises(UserError, match=needle):
        load_config(None, overrides)


@pytest.mark.parametrize("where, needle", [("missing", "does not exist"), ("file.txt", "neither a packed set")])
def test_train_refuses_a_bad_unlabeled_source_before_writing_the_run(tmp_path, capsys, where, needle):
    data, run = make_identity_set(tmp_path / "faces"), tmp_path / "run"
    (tmp_path / "file.txt").write_text("x")
    rc = main(
        ["train", "--config", "configs/face/orl-smoke.yaml", "--data", str(data), "--out", str(run), *TINY_TRAIN]
        + ["--set", f"embed_kd.model={MODEL}", "--set", "embed_kd.weight=1"]
        + ["--set", f"embed_kd.unlabeled=[{tmp_path / where}]"]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and needle in err[0] and "embed_kd.unlabeled" in err[0], err
    assert not run.exists()
