"""Train-time degradation (augment.degrade): fresh low-resolution views of higher-resolution training faces."""

import csv
import json

import albumentations as A
import cv2
import numpy as np
import pytest
import torch

from lrface.cli import main
from lrface.config import AugmentConfig, load_config
from lrface.config.rules import DEGRADE_FILTERS
from lrface.data.augment import augment_batch, build_augment
from lrface.data.degrade import FILTERS
from lrface.data.packed import write_packed_set
from lrface.data.sources import load_data
from lrface.engine.batches import train_batches
from lrface.engine.trainer import Trainer
from lrface.preprocess import resize_uint8
from tests.conftest import TINY_TRAIN, make_identity_set
from tests.test_train_cli import one_line_error


def faces(n: int = 8, size: int = 32, seed: int = 0) -> np.ndarray:
    """Smooth random colour patterns (so the down-sampling filters give different results)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    f = rng.uniform(1, 4, (n, 1, 1, 3))
    img = 128 + 100 * np.sin(2 * np.pi * f * xx[None, ..., None] + yy[None, ..., None] * f * 5)
    return np.clip(img + rng.normal(0, 10, img.shape), 0, 255).astype(np.uint8)


def packed(root, ids=6, per_id=8, size=32, seed=0, hr=False):
    """A packed set with one split ``all``: ids identities x per_id images at size x size."""
    images = faces(ids * per_id, size, seed)
    labels = np.repeat(np.arange(ids), per_id)
    names = [f"p{seed}_{i}" for i in range(ids)]
    rows = [
        {"split": "all", "index": i, "label": int(lb), "identity": names[lb], "source": f"{names[lb]}/{i}.jpg"}
        for i, lb in enumerate(labels)
    ]
    out = write_packed_set(root, {"all": (images, labels)}, names, rows)
    if hr:
        emb = np.random.default_rng(seed).normal(size=(len(labels), 8)).astype(np.float32)
        np.save(out / "all" / "hr_embeddings.npy", emb / np.linalg.norm(emb, axis=1, keepdims=True))
        m = json.loads((out / "manifest.json").read_text())
        m["hr_teacher"] = {"name": "test", "dim": 8, "input": "synthetic"}
        (out / "manifest.json").write_text(json.dumps(m))
    return out


def test_degraded_views_are_small_uint8_seeded_and_fresh_per_draw():
    images = faces(6, 64)
    cfg = AugmentConfig(degrade=True, degrade_blur=1.5, degrade_noise=6.0, degrade_jpeg=40)
    out = augment_batch(build_augment(cfg, 16, seed=3, native_size=64), images)
    assert out.shape == (6, 16, 16, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, augment_batch(build_augment(cfg, 16, seed=3, native_size=64), images))
    assert not np.array_equal(out, augment_batch(build_augment(cfg, 16, seed=4, native_size=64), images))
    aug = build_augment(cfg, 16, seed=3, native_size=64)
    first, second = augment_batch(aug, images[:1]), augment_batch(aug, images[:1])
    assert not np.array_equal(first, second)  # the same face twice: two different views


def test_each_filter_is_the_cv2_resize_and_the_draw_covers_them():
    images = faces(20, 64)
    for name, flag in FILTERS.items():
        cfg = AugmentConfig(enabled=False, degrade=True, degrade_filters=[name])
        want = np.stack([cv2.resize(im, (16, 16), interpolation=flag) for im in images])
        np.testing.assert_array_equal(augment_batch(build_augment(cfg, 16, 0), images), want, err_msg=name)
    assert set(FILTERS) == set(DEGRADE_FILTERS)
    cfg = AugmentConfig(enabled=False, degrade=True, degrade_filters=["area", "nearest"])
    out = augment_batch(build_augment(cfg, 16, 0), images)
    area, nearest = (
        resize_uint8(images, 16),
        np.stack([cv2.resize(im, (16, 16), interpolation=cv2.INTER_NEAREST) for im in images]),
    )
    is_area = [np.array_equal(o, a) for o, a in zip(out, area)]
    is_nearest = [np.array_equal(o, b) for o, b in zip(out, nearest)]
    assert all(a != b for a, b in zip(is_area, is_nearest)) and 0 < sum(is_area) < len(images)


@pytest.mark.parametrize("key", ["degrade_blur=2.0", "degrade_noise=10.0", "degrade_jpeg=20"])
def test_each_degradation_changes_the_view(key):
    images = faces(6, 64)
    plain = AugmentConfig(enabled=False, degrade=True, degrade_filters=["area"])
    name, value = key.split("=")
    cfg = AugmentConfig(
        enabled=False, degrade=True, degrade_filters=["area"], **{name: type(getattr(plain, name))(value)}
    )
    np.testing.assert_array_equal(augment_batch(build_augment(plain, 16, 0), images), resize_uint8(images, 16))
    assert not np.array_equal(augment_batch(build_augment(cfg, 16, 0), images), resize_uint8(images, 16))


def test_degrade_off_is_the_pipeline_of_before():
    images = faces(6, 16)
    today = A.Compose(
        [
            A.HorizontalFlip(p=0.5),
            A.Affine(
                translate_px=(-1, 1), scale=(0.9, 1.1), rotate=(0, 0), border_mode=4, p=0.8
            ),  # cv2.BORDER_REFLECT_101
            A.RandomBrightnessContrast(0.2, 0.2, p=0.8),
        ],
        seed=7,
    )
    want = augment_batch(today, images)
    off = AugmentConfig(degrade_blur=3.0, degrade_noise=9.0, degrade_jpeg=10, degrade_filters=["nearest"])
    np.testing.assert_array_equal(augment_batch(build_augment(off, 16, 7), images), want)
    assert build_augment(AugmentConfig(enabled=False), 16, 7) is None


def _bundles(path, *extra):
    base = [f"data.path={path}", "data.val_identities=2", "data.val_fraction=0.2", "data.test_fraction=0.25", *extra]
    return load_data(load_config(None, base)), load_data(load_config(None, base + ["augment.degrade=true"]))


@pytest.mark.parametrize("multi", [False, True])
def test_loading_keeps_train_native_and_resizes_the_rest_as_before(tmp_path, multi):
    a = packed(tmp_path / "a", hr=True)
    path = f"[{a},{packed(tmp_path / 'b', seed=1)}]" if multi else str(a)
    plain, native = _bundles(path, "data.merge=name")
    assert native.class_names == plain.class_names and set(native.splits) == {"train", "test", "val", "val_open"}
    for name, (images, labels) in plain.splits.items():
        got, got_labels = native.splits[name]
        np.testing.assert_array_equal(got_labels, labels)
        if name == "train":
            assert got.shape[1:] == (32, 32, 3)
            np.testing.assert_array_equal(resize_uint8(got, 16), images)
        else:
            np.testing.assert_array_equal(got, images)
    # HR descriptors are keyed on the training images as kept: all of set a's are found at 32 px
    _, found = native.hr.lookup(native.splits["train"][0])
    _, found_before = plain.hr.lookup(plain.splits["train"][0])
    np.testing.assert_array_equal(found, found_before)
    assert found.any() and (found.all() if not multi else not found.all())


def test_training_with_hr_and_degrade_finds_the_descriptors_and_batches_are_seeded(tmp_path):
    cfg = load_config(
        None,
        [
            f"data.path={packed(tmp_path / 'a', hr=True)}",
            "augment.degrade=true",
            "augment.degrade_blur=1.0",
            "strategy=student-only",
            "student.arch=resnet_tiny",
            "train.batch_size=8",
            "train.epochs=1",
            "hr.point=1.0",
        ],
    )
    tr = Trainer(cfg, load_data(cfg), tmp_path / "run")
    assert bool(tr.hr.found.all()) and not tr.device_data

    def epoch(seed):
        return [(x["teacher"].numpy(), x["student"].numpy(), i) for x, _, i in train_batches(tr, seed)]

    first, again, other = epoch(11), epoch(11), epoch(12)
    assert first[0][0].shape[1:] == (3, 16, 16)
    assert all(np.array_equal(x[0], y[0]) and np.array_equal(x[1], y[1]) for x, y in zip(first, again))
    assert not np.array_equal(first[0][1], first[0][0])  # independent views per stream
    assert not all(np.array_equal(x[1], y[1]) for x, y in zip(first, other))
    assert tr.fit()["student_hr_point"] > 0


def test_train_smoke_with_degrade_on_a_32px_set(tmp_path):
    data, run = packed(tmp_path / "set"), tmp_path / "run"
    args = ["train", "--config", "configs/face/orl-smoke.yaml", "--data", str(data), "--out", str(run), *TINY_TRAIN]
    sets = ["train.epochs=2", "data.val_identities=2", "data.val_pairs=20", "augment.degrade=true"]
    sets += ["augment.degrade_blur=1.0", "augment.degrade_noise=4", "augment.degrade_jpeg=50"]
    assert main(args + [x for s in sets for x in ("--set", s)]) == 0
    rows = list(csv.DictReader((run / "metrics.csv").read_text().splitlines()))
    assert [r["epoch"] for r in rows] == ["1", "2"] and float(rows[-1]["val_open_auc_student"]) > 0
    assert torch.load(run / "checkpoints/last.pt", weights_only=True)["config"]["augment"]["degrade"] is True


def test_bad_degrade_inputs_are_one_line_before_anything_is_written(tmp_path, capsys):
    at16, at32 = packed(tmp_path / "s16", size=16), packed(tmp_path / "s32", seed=1)
    at24, at24b = packed(tmp_path / "s24", size=24, seed=2), packed(tmp_path / "t24", size=24, seed=3)
    folder = make_identity_set(tmp_path / "faces", identities=3, per_identity=2)
    out = tmp_path / "run"

    def train(data, *sets):
        args = ["train", "--config", "configs/face/orl-smoke.yaml", "--data", data, "--out", str(out), *TINY_TRAIN]
        return main(args + [x for s in ("augment.degrade=true", *sets) for x in ("--set", s)])

    one_line_error(capsys, train(str(at16)), "augment.degrade", "16x16", "--size")
    one_line_error(capsys, train(f"[{at32},{at24}]"), "different image sizes", "s32 32x32", "s24 24x24")
    one_line_error(capsys, train(f"[{at24},{at24b}]", "data.image_size=24"), "s24 holds 24x24", "--size")
    one_line_error(capsys, train(str(folder)), "augment.degrade needs packed sets", "lrface prepare folder")
    one_line_error(capsys, train(f"[{at32},{folder}]"), "augment.degrade needs packed sets")
    one_line_error(capsys, train(str(at32), "augment.backend=torch"), "augment.backend")
    one_line_error(capsys, train(str(at32), "augment.degrade_filters=[area, box]"), "degrade_filters", "bicubic")
    one_line_error(capsys, train(str(at32), "augment.degrade_filters=[]"), "degrade_filters")
    one_line_error(capsys, train(str(at32), "augment.degrade_jpeg=96"), "degrade_jpeg")
    one_line_error(capsys, train(str(at32), "augment.degrade_noise=300"), "degrade_noise")
    one_line_error(capsys, train(str(at32), "augment.degrade_blur=-1"), "degrade_blur")
    one_line_error(capsys, train(str(at32), "augment.pad_crop=4"), "pad_crop")
    one_line_error(capsys, train(str(at32), "data.kind=cifar10"), "augment.degrade", "cifar10")
    assert not out.exists()
