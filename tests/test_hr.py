"""Cross-resolution distillation from HR-teacher descriptors: losses, lookup, packed sets, training."""

import copy
import math

import numpy as np
import pytest
import torch

from lrface.config import load_config
from lrface.data.hr_table import HrTable
from lrface.data.packed import read_packed_set, write_packed_set
from lrface.data.sources import load_data
from lrface.distill.hr import HrDistiller, hr_point_loss, hr_proto_loss
from lrface.distill.relation import relation_loss
from lrface.engine.trainer import Trainer
from lrface.errors import UserError


def test_point_loss_matches_hand_computed_values():
    p, t = torch.tensor([[2.0, 0.0], [0.0, 3.0]]), torch.tensor([[0.6, 0.8], [0.0, 1.0]])
    # row 0: cos = 0.6 -> 0.4; row 1: cos = 1 -> 0; projected rows are normalised first
    assert hr_point_loss(p, t, "cosine").item() == pytest.approx(0.2)
    # row 0: (1 - 0.6)^2 + 0.8^2 = 0.8; row 1: 0
    assert hr_point_loss(p, t, "l2").item() == pytest.approx(0.4)


def test_relation_loss_matches_hand_computed_values():
    s = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    t = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    # off-diagonal student cosines (0,1)=0, (0,2)=(1,2)=1/sqrt2; teacher 1, 0, 0; each pair twice
    r = 1 / math.sqrt(2)
    assert relation_loss(s, t, "mse", center=False).item() == pytest.approx(2 * (1 + r * r + r * r) / 6)
    # kl, tau = 1: row i compares softmax over the other two similarities
    rows_s, rows_t = [[0.0, r], [0.0, r], [r, r]], [[1.0, 0.0], [1.0, 0.0], [0.0, 0.0]]

    def kl(a, b):
        pa = [math.exp(x) / sum(math.exp(y) for y in a) for x in a]
        pb = [math.exp(x) / sum(math.exp(y) for y in b) for x in b]
        return sum(x * math.log(x / y) for x, y in zip(pa, pb))

    expected = sum(kl(b, a) for a, b in zip(rows_s, rows_t)) / 3
    assert relation_loss(s, t, "kl", tau=1.0, center=False).item() == pytest.approx(expected, rel=1e-5)


def test_centred_relation_loss_matches_hand_computed_values():
    s = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    t = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    # centred student rows (1,-2)/3, (-2,1)/3, (1,1)/3: cosines -0.8, -1/sqrt10, -1/sqrt10;
    # centred teacher rows (1,-1)/3, (1,-1)/3, (-2,2)/3: cosines 1, -1, -1
    q = 1 / math.sqrt(10)
    expected = 2 * ((-0.8 - 1) ** 2 + 2 * (-q + 1) ** 2) / 6
    assert relation_loss(s, t, "mse").item() == pytest.approx(expected, rel=1e-5)


def test_proto_loss_matches_hand_computed_values():
    logits = torch.tensor([[0.0, 0.0, 5.0]])
    teacher = torch.tensor([[2.0, 0.0]])
    protos = torch.tensor([[1.0, 0.0], [0.0, 3.0], [1.0, 1.0]])
    valid = torch.tensor([True, True, False])  # class 2 has no prototype: no teacher mass
    # cosines to the prototypes 1 and 0 (tau 1): soft = (e, 1) / (e + 1), 0; student = softmax(0, 0, 5)
    e = math.e
    soft = [e / (e + 1), 1 / (e + 1)]
    student = [1 / (2 + math.exp(5)), 1 / (2 + math.exp(5))]
    expected = sum(p * math.log(p / q) for p, q in zip(soft, student))
    assert hr_proto_loss(logits, teacher, protos, tau=1.0, valid=valid).item() == pytest.approx(expected, rel=1e-5)


def test_relation_loss_is_zero_for_the_same_structure_and_detaches_the_teacher():
    x = torch.randn(5, 4)
    teacher = x.clone().requires_grad_(True)
    assert relation_loss(x * 3.0, teacher, "mse").item() == pytest.approx(0.0, abs=1e-6)
    student = torch.randn(5, 4, requires_grad=True)
    relation_loss(student, teacher, "mse").backward()
    assert teacher.grad is None and student.grad is not None


def test_table_finds_descriptors_wherever_the_images_went():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (6, 16, 16, 3), dtype=np.uint8)
    hr = rng.normal(size=(6, 4)).astype(np.float32)
    table = HrTable()
    table.add(images, hr, "t")
    order = np.array([5, 0, 3])
    other = rng.integers(0, 255, (1, 16, 16, 3), dtype=np.uint8)
    found_hr, found = table.lookup(np.concatenate([images[order], other]))
    assert found.tolist() == [True, True, True, False]
    np.testing.assert_array_equal(found_hr[:3], hr[order])
    assert not found_hr[3].any()


def _packed(tmp_path, with_hr: bool, n_classes=3, per_class=6, seed=1):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(n_classes), per_class)
    images = (rng.integers(0, 60, (len(labels), 16, 16, 3)) + 60 * labels[:, None, None, None]).astype(np.uint8)
    rows = [
        {
            "split": "all",
            "index": i,
            "label": int(lb),
            "identity": f"c{lb}",
            "source": f"c{lb}/{i}.png",
            "status": "aligned",
        }
        for i, lb in enumerate(labels)
    ]
    out = write_packed_set(tmp_path / "set", {"all": (images, labels)}, [f"c{i}" for i in range(n_classes)], rows)
    if with_hr:
        hr = rng.normal(size=(len(labels), 8)).astype(np.float32)
        hr /= np.linalg.norm(hr, axis=1, keepdims=True)
        np.save(out / "all" / "hr_embeddings.npy", hr)
        import json

        m = json.loads((out / "manifest.json").read_text())
        m["hr_teacher"] = {"name": "test", "dim": 8, "input": "synthetic"}
        (out / "manifest.json").write_text(json.dumps(m))
    return out


def test_packed_set_reads_hr_embeddings_and_rejects_a_truncated_file(tmp_path):
    out = _packed(tmp_path, with_hr=True)
    assert read_packed_set(out).hr["all"].shape == (18, 8)
    np.save(out / "all" / "hr_embeddings.npy", np.zeros((3, 8), np.float32))
    with pytest.raises(UserError, match="--hr-teacher"):
        read_packed_set(out)
    assert read_packed_set(_packed(tmp_path / "old", with_hr=False)).hr == {}  # older sets stay readable


def _cfg(path, *overrides):
    return load_config(
        None,
        [
            f"data.path={path}",
            "strategy=student-only",
            "student.arch=resnet_tiny",
            "train.batch_size=6",
            "train.epochs=1",
            "augment.enabled=false",
            "train.seed=0",
            *overrides,
        ],
    )


def test_training_with_hr_distillation_logs_both_terms_and_moves_the_projection(tmp_path):
    cfg = _cfg(_packed(tmp_path, with_hr=True), "hr.point=1.0", "hr.relation=1.0", "hr.proto=1.0", "hr.center=true")
    torch.manual_seed(0)
    tr = Trainer(cfg, load_data(cfg), tmp_path / "run")
    before = tr.hr.proj.weight.detach().clone()
    images, labels = tr.data.splits["train"]
    idx = np.arange(6)
    logs = tr.train_step({"student": tr.to_input(images[idx])}, torch.from_numpy(labels[idx]), idx)
    assert logs["student_hr_point"] > 0 and logs["student_hr_relation"] > 0 and logs["student_hr_proto"] > 0
    assert not torch.equal(before, tr.hr.proj.weight)
    assert "hr" in tr.state_dict() and not any(k.startswith("proj") for k in tr.state_dict()["models"]["student"])
    assert tr.fit()["student_hr_point"] > 0  # the whole loop carries the indices


def test_each_hr_term_reads_the_descriptor_of_its_own_image(tmp_path):
    """The logged terms equal the loss functions on the student's outputs (a copy from before the step) and on the
    descriptors found by image content in the packed set itself: a lookup that picked other rows would differ."""
    path = _packed(tmp_path, with_hr=True)
    cfg = _cfg(path, "hr.point=1.0", "hr.relation=1.0", "hr.proto=1.0", "hr.center=false")
    torch.manual_seed(0)
    tr = Trainer(cfg, load_data(cfg), tmp_path / "run")
    student, proj = copy.deepcopy(tr.streams["student"]), copy.deepcopy(tr.hr.proj)
    images, labels = tr.data.splits["train"]
    idx = np.arange(6)
    x = tr.to_input(images[idx])
    logs = tr.train_step({"student": x}, torch.from_numpy(labels[idx]), idx)
    pack = read_packed_set(path)
    stored, hr = pack.splits["all"][0], pack.hr["all"]
    row = lambda im: int(np.flatnonzero((stored == im).all(axis=(1, 2, 3)))[0])  # noqa: E731
    t = torch.from_numpy(hr[[row(im) for im in images]])  # every training image's own descriptor
    protos = torch.zeros(3, 8).index_add_(0, torch.from_numpy(labels), t)
    with torch.no_grad():
        out = student(x)
        expected = {
            "student_hr_point": hr_point_loss(proj(out.feature), t[idx], "cosine"),
            "student_hr_relation": relation_loss(out.feature, t[idx], "mse", 0.1, True),
            "student_hr_proto": hr_proto_loss(out.logits, t[idx], protos, 0.1),
        }
    for key, value in expected.items():
        assert float(logs[key]) == pytest.approx(float(value), rel=1e-5), key


def test_a_config_that_needs_hr_on_a_set_without_them_names_the_prepare_flag(tmp_path):
    cfg = _cfg(_packed(tmp_path, with_hr=False), "hr.relation=1.0")
    with pytest.raises(UserError, match="--hr-teacher dlib"):
        Trainer(cfg, load_data(cfg), tmp_path / "run")
    assert (
        HrDistiller.build(cfg.hr.__class__(), HrTable(), (np.zeros((1, 16, 16, 3), np.uint8), np.zeros(1)), 2, 4)
        is None
    )


def test_hr_descriptors_follow_images_merged_from_several_sources(tmp_path):
    a, b = _packed(tmp_path / "a", with_hr=True), _packed(tmp_path / "b", with_hr=False, n_classes=2, seed=2)
    b = b.rename(b.with_name("set-b"))  # two sources both named "set" are refused (data/multi.py check_sources)
    cfg = load_config(None, ["data.path=[" + f"{a},{b}" + "]", "hr.point=1.0"])
    bundle = load_data(cfg)
    hr, found = bundle.hr.lookup(bundle.splits["train"][0])
    assert 0 < found.sum() < len(found)  # set b has none; set a's images are found after the merge and split
    ref = read_packed_set(a, mmap=False)
    row = {im.tobytes(): e for im, e in zip(ref.splits["all"][0], ref.hr["all"])}
    for im, e, ok in zip(bundle.splits["train"][0], hr, found):
        if ok:
            np.testing.assert_array_equal(e, row[im.tobytes()])
