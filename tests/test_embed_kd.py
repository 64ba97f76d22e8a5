"""Distillation from a frozen exported model (lrface/distill/embed_kd.py): its targets are the model's embeddings of
the student's own view (and the teacher's, with teacher_weight), the term enters Eq. 11 with its weight and ramp,
the point form learns each embedding through a projection trained with the student, resume stays bit-exact with
them on the prefetch thread, and every bad setting is one line, exit 2, before a run
directory is written."""

import numpy as np
import pytest
import torch

from lrface.cli import main
from lrface.config import load_config
from lrface.distill.embed_kd import EmbedDistiller
from lrface.distill.relation import relation_kl, relation_loss
from lrface.engine.batches import train_batches
from lrface.engine.trainer import Trainer
from lrface.errors import UserError
from lrface.inference.embedder import Embedder
from lrface.pretrained import resolve_model
from tests.conftest import TINY_TRAIN, make_identity_set
from tests.test_engine import assert_same_streams, resume, term_step, tiny_cfg, tiny_data
from tests.test_engine import first_step as engine_first_step
from tests.test_speed_switches import ALL_ON

MODEL = "sr18-celeba-x2hs-emb90"  # a packaged 16x16 student: small and fast enough for a test
WITH = [f"embed_kd.model={MODEL}"]  # the frozen model named, every term off
ON = [*WITH, "embed_kd.weight=1.0"]


def test_targets_are_the_frozen_models_embeddings_of_the_students_view(tmp_path):
    tr = Trainer(tiny_cfg("augment.enabled=true", *ON), tiny_data(), tmp_path)
    x, _, idx = next(train_batches(tr, 3))
    images = tr.data.splits["train"][0][idx]
    # augmentation on: the targets follow the augmented student view, not the stored image
    assert not np.allclose(x["embed_kd"].numpy(), Embedder(resolve_model(MODEL)).embed(images), atol=1e-3)
    plain = Trainer(tiny_cfg(*ON), tiny_data(), tmp_path / "plain")
    x, _, idx = next(train_batches(plain, 3))
    expected = Embedder(resolve_model(MODEL)).embed(plain.data.splits["train"][0][idx])
    np.testing.assert_allclose(x["embed_kd"].numpy(), expected, atol=1e-5)
    assert x["embed_kd"].shape == (8, 112)


def test_the_term_is_the_relation_of_student_embeddings_to_the_targets():
    t = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
    s = torch.tensor([[2.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    kd = EmbedDistiller(tiny_cfg(*ON, "embed_kd.kind=mse"))
    # student cosines (0,1) 0, (0,2) and (1,2) 1/sqrt2; teacher 0.6, 0, 0.8: uncentred, each pair twice
    r = 1 / np.sqrt(2)
    assert kd.loss(s, t).item() == pytest.approx(2 * (0.6**2 + r**2 + (r - 0.8) ** 2) / 6, rel=1e-6)
    assert kd.loss(s, t).item() == pytest.approx(relation_loss(s, t, "mse", center=False).item())
    kd = EmbedDistiller(tiny_cfg(*ON))  # kl, tau 0.1
    assert kd.loss(t * 3, t).item() == pytest.approx(0.0, abs=1e-6)  # the same structure, any scale


def test_the_memory_form_is_the_batch_form_with_an_empty_memory_and_a_hand_computed_value_with_one():
    g = torch.Generator().manual_seed(0)
    s, t = torch.randn(6, 4, generator=g), torch.randn(6, 5, generator=g)
    empty = (torch.zeros(0, 4), torch.zeros(0, 5))
    torch.testing.assert_close(
        relation_kl(s, t, 0.1, *empty), relation_loss(s, t, "kl", 0.1, center=False), rtol=0, atol=0
    )
    # rows s1=(1,0), s2=(0,1); targets both (1,0); one memory image: student (1,0), model (0,1); tau 1.
    # row 1: KL(softmax[1,0] || softmax[0,1]) = (e-1)/(e+1); row 2: KL(softmax[1,0] || [1/2,1/2]); mean 0.286531
    one = relation_kl(
        torch.eye(2), torch.tensor([[1.0, 0], [1, 0]]), 1.0, torch.tensor([[1.0, 0]]), torch.tensor([[0.0, 1]])
    )
    torch.testing.assert_close(one, torch.tensor(0.286531), rtol=0, atol=1e-6)


def test_the_memory_keeps_the_newest_rows_normalised():
    kd = EmbedDistiller(tiny_cfg(*ON, "embed_kd.memory=5"))
    batches = [(torch.randn(3, 4), torch.randn(3, 6)) for _ in range(3)]
    for f, t in batches:
        kd.loss(f, t)
    feats, targets = (torch.cat([b[i] for b in batches])[-5:] for i in (0, 1))
    torch.testing.assert_close(kd.bank[0], torch.nn.functional.normalize(feats, dim=1))
    torch.testing.assert_close(kd.bank[1], torch.nn.functional.normalize(targets, dim=1))
    before = kd.bank
    kd.loss(*batches[0], stream="teacher")  # the teacher's term neither reads nor fills it
    assert kd.bank is before


def first_step(run_dir, *extra) -> tuple[Trainer, dict, dict[str, float]]:
    """A trainer with the frozen model named (``extra`` turns terms on), its first batch and that step's logs."""
    tr, x, _, logs, _ = engine_first_step(run_dir, *WITH, *extra)
    return tr, x, logs


def test_the_term_adds_its_weighted_value_to_the_students_eq11_sum(tmp_path):
    # epoch 0 of a 4-epoch ramp: weight 2 x 1/4
    _, _, _, on, _ = term_step(tmp_path, "embed_kd", 0.5, ["embed_kd.weight=2.0", "embed_kd.warmup_epochs=4"], WITH)
    assert on["student_embed_kd"] > 0


def test_the_point_term_is_one_minus_the_cosine_of_the_projected_embedding(tmp_path):
    kd = EmbedDistiller(tiny_cfg(f"embed_kd.model={MODEL}", "embed_kd.point=1.0"), feature_dim=2)
    assert kd.views == ("student",) and kd.proj.weight.shape == (112, 2)  # the model's width, from one run
    with torch.no_grad():
        kd.proj.weight.zero_()
        kd.proj.weight[0, 0] = kd.proj.weight[1, 1] = 1.0
        kd.proj.bias.zero_()
    f, t = torch.tensor([[1.0, 0.0], [1.0, 1.0]]), torch.zeros(2, 112)
    t[0, 0] = t[1, 1] = 3.0  # any length: only the direction counts
    # row 1: P f = e0, cos 1 -> 0; row 2: P f = e0 + e1 against e1, cos 1/sqrt2; batch mean
    assert kd.point_loss(f, t).item() == pytest.approx((1 - 1 / np.sqrt(2)) / 2, rel=1e-6)


def test_the_point_term_adds_its_weighted_value_and_trains_the_projection_with_the_student(tmp_path):
    # epoch 0 of a 4-epoch ramp: weight 2 x 1/4
    tr, _, _, on, _ = term_step(
        tmp_path, "embed_kd_point", 0.5, ["embed_kd.point=2.0", "embed_kd.warmup_epochs=4"], WITH
    )
    assert "student_embed_kd" not in on and on["student_embed_kd_point"] > 0  # the relation term stays off
    trained = {id(q) for g in tr.optimizers["student"].param_groups for q in g["params"]}
    assert all(id(q) in trained for q in tr.embed_kd.parameters())
    teacher = {id(q) for g in tr.optimizers["teacher"].param_groups for q in g["params"]}
    assert len(tr.embed_kd.parameters()) == 2 and not any(id(q) in teacher for q in tr.embed_kd.parameters())
    assert "embed_kd_point" in tr.strategy.describe()


@pytest.mark.parametrize("parallel", [False, True])
def test_teacher_weight_adds_the_term_on_the_teachers_own_view_only(tmp_path, parallel):
    views = ("augment.enabled=true", f"train.parallel_streams={parallel}")
    _, _, off = first_step(tmp_path, *views)
    _, x, on = first_step(tmp_path, *views, "embed_kd.teacher_weight=3.0", "embed_kd.warmup_epochs=2")
    assert "embed_kd" not in x and "student_embed_kd" not in on and on["teacher_embed_kd"] > 0
    # the targets are the model's embeddings of the teacher's augmented view, not the student's
    model = Embedder(resolve_model(MODEL))
    expected = model.session.run(["embedding"], {model.session.get_inputs()[0].name: x["teacher"].numpy()})[0]
    np.testing.assert_allclose(x["embed_kd_teacher"].numpy(), expected, atol=1e-5)
    assert not torch.equal(x["teacher"], x["student"])
    # epoch 0 of a 2-epoch ramp: weight 3 x 1/2; the student's sum is untouched
    assert on["loss_teacher"] - off["loss_teacher"] == pytest.approx(1.5 * on["teacher_embed_kd"], rel=1e-4)
    assert on["loss_student"] == pytest.approx(off["loss_student"])


def test_the_streams_share_one_model_run_when_they_share_a_view(tmp_path):
    tr = Trainer(tiny_cfg(*ON, "embed_kd.teacher_weight=1.0", "augment.independent=false"), tiny_data(), tmp_path)
    x, _, _ = next(train_batches(tr, 1))
    assert x["teacher"] is x["student"] and x["embed_kd_teacher"] is x["embed_kd"]


@pytest.mark.parametrize(
    "teacher, memory, point", [("0", "0", "0"), ("1.0", "0", "0"), ("0", "12", "0"), ("0", "0", "1")]
)
def test_resume_stays_bit_exact_with_the_frozen_model_on_the_prefetch_thread(tmp_path, teacher, memory, point):
    on = [*ON, f"embed_kd.teacher_weight={teacher}", f"embed_kd.memory={memory}", f"embed_kd.point={point}"]
    cfg = tiny_cfg("augment.enabled=true", "train.epochs=3", *ALL_ON, *on)
    full = Trainer(cfg, tiny_data(), tmp_path / "full")
    full.fit()
    Trainer(tiny_cfg("augment.enabled=true", "train.epochs=1", *ALL_ON, *on), tiny_data(), tmp_path / "part").fit()
    resumed = resume(cfg, tmp_path / "part")
    assert_same_streams(full, resumed, ("student", "teacher"))
    assert all(torch.equal(a, b) for a, b in zip(full.embed_kd.parameters(), resumed.embed_kd.parameters()))


@pytest.mark.parametrize(
    "overrides, needle",
    [
        (["embed_kd.weight=1.0"], "needs embed_kd.model"),
        ([*ON, "strategy=teacher-only"], "trains none"),
        (["embed_kd.teacher_weight=1.0"], "needs embed_kd.model"),
        (["embed_kd.point=1.0"], "needs embed_kd.model"),
        ([f"embed_kd.model={MODEL}", "embed_kd.point=1.0", "strategy=teacher-only"], "trains none"),
        ([*ON, "embed_kd.teacher_weight=1.0", "teacher.mode=fixed"], "embed_kd.teacher_weight distils"),
        ([*ON, "embed_kd.kind=cosine"], "embed_kd.kind"),
        ([*ON, "embed_kd.tau=0"], "embed_kd.tau"),
        ([*ON, "embed_kd.kind=mse", "embed_kd.memory=64"], "embed_kd.memory 64 extends"),
        ([f"embed_kd.model={MODEL}", "embed_kd.teacher_weight=1.0", "embed_kd.memory=64"], "embed_kd.weight > 0"),
    ],
)
def test_bad_settings_are_refused_at_load(overrides, needle):
    with pytest.raises(UserError, match=needle):
        load_config(None, overrides)


def test_a_model_with_other_preprocessing_is_refused(tmp_path):
    with pytest.raises(UserError, match="same preprocessing"):
        EmbedDistiller(tiny_cfg(*ON, "preprocess.mean=[0.4,0.4,0.4]"))


@pytest.mark.parametrize("term", ["weight", "teacher_weight", "point"])
@pytest.mark.parametrize(
    "model, needle",
    [("missing.onnx", "model not found"), ("configs/face/orl-smoke.yaml", "not an ONNX model")],
)
def test_train_refuses_a_bad_frozen_model_before_writing_the_run(tmp_path, capsys, model, needle, term):
    data, run = make_identity_set(tmp_path / "faces"), tmp_path / "run"
    rc = main(
        ["train", "--config", "configs/face/orl-smoke.yaml", "--data", str(data), "--out", str(run), *TINY_TRAIN]
        + ["--set", f"embed_kd.model={model}", "--set", f"embed_kd.{term}=1"]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and needle in err[0] and "Traceback" not in err[0], err
    assert not run.exists()
