"""Photometric lighting augmentation (augment.lighting / lighting_strength / gamma / grey): seeded, reproducible,
photometric only, and off by default with the rest of the augmentation bit-identical on both backends."""

import dataclasses
import math

import albumentations as A
import numpy as np
import pytest
import torch

from lrface.cli import main
from lrface.config import AugmentConfig, load_config
from lrface.data import lighting
from lrface.data.augment import augment_batch, build_augment
from lrface.data.device import augment
from lrface.errors import UserError
from tests.conftest import TINY_TRAIN, make_identity_set, sets

ON = dict(lighting=1.0, lighting_strength=0.7, gamma=0.4, grey=0.5)


def faces(n: int = 8, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(20, 236, (n, 16, 16, 3), dtype=np.uint8)


def torch_aug(cfg: AugmentConfig, images: np.ndarray, seed: int) -> np.ndarray:
    return augment(torch.from_numpy(images), cfg, torch.Generator().manual_seed(seed)).numpy()


def test_off_by_default():
    cfg = AugmentConfig()
    assert (cfg.lighting, cfg.gamma, cfg.grey) == (0.0, 0.0, 0.0)
    assert not any(
        isinstance(op, (lighting.DirectionalShading, A.RandomGamma, A.ToGray)) for op in build_augment(cfg, 16, 0)
    )


def test_off_leaves_the_existing_augmentation_bit_identical():
    """The pipeline without the keys (the previous op list, built here by hand) gives the same bytes."""
    cfg, images = AugmentConfig(), faces()
    before = A.Compose(
        [
            A.HorizontalFlip(p=0.5),
            A.Affine(
                translate_px=(-1, 1),  # shift 0.0625 of 16 px, in whole pixels
                scale=(1 - cfg.scale, 1 + cfg.scale),
                rotate=(0, 0),
                border_mode=4,  # cv2.BORDER_REFLECT_101
                p=0.8,
            ),
            A.RandomBrightnessContrast(0.2, 0.2, p=0.8),
        ],
        seed=7,
    )
    np.testing.assert_array_equal(augment_batch(build_augment(cfg, 16, seed=7), images), augment_batch(before, images))
    # torch: zero-strength keys draw nothing, so a config with them at 0 equals the default draw for draw
    zero = dataclasses.replace(cfg, lighting=0.0, gamma=0.0, grey=0.0, lighting_strength=0.9)
    np.testing.assert_array_equal(torch_aug(cfg, images, 3), torch_aug(zero, images, 3))


@pytest.mark.parametrize("backend", ["albumentations", "torch"])
def test_seeded_and_reproducible(backend):
    cfg, images = AugmentConfig(**ON), faces()
    if backend == "torch":
        out = torch_aug(cfg, images, 5)
        np.testing.assert_array_equal(out, torch_aug(cfg, images, 5))
        assert not np.array_equal(out, torch_aug(cfg, images, 6))
        assert not np.array_equal(out, torch_aug(AugmentConfig(), images, 5))
    else:
        out = augment_batch(build_augment(cfg, 16, seed=5), images)
        np.testing.assert_array_equal(out, augment_batch(build_augment(cfg, 16, seed=5), images))
        assert not np.array_equal(out, augment_batch(build_augment(cfg, 16, seed=6), images))
        assert not np.array_equal(out, augment_batch(build_augment(AugmentConfig(), 16, seed=5), images))
    assert out.shape == images.shape


def test_ramp_hand_values_and_twins_agree():
    r = lighting.ramp_np(16, 16, 0.5, 0.0)  # light from the right: 0.5 on the left column, 1.5 on the right
    np.testing.assert_allclose(r[:, 0], 0.5, atol=1e-6)
    np.testing.assert_allclose(r[:, -1], 1.5, atol=1e-6)
    np.testing.assert_allclose(r[0], r[-1])  # constant along the perpendicular
    d = lighting.ramp_np(16, 16, 0.4, 45.0)  # diagonal: corners at 1 -/+ s, the anti-diagonal at 1
    assert d[0, 0] == pytest.approx(0.6, abs=1e-6) and d[-1, -1] == pytest.approx(1.4, abs=1e-6)
    np.testing.assert_allclose(np.diag(d[:, ::-1]), 1.0, atol=1e-6)
    for s, a in [(0.5, 0.0), (0.4, 45.0), (0.7, 200.0), (0.3, 301.5)]:
        r = lighting.ramp_np(16, 16, s, a)
        assert r.min() == pytest.approx(1 - s, abs=1e-5) and r.max() == pytest.approx(1 + s, abs=1e-5)
        t = lighting.shading_ramp(16, 16, torch.tensor([s]), torch.tensor([a]))[0, 0].numpy()
        np.testing.assert_allclose(t, r, atol=1e-5)


@pytest.mark.parametrize("backend", ["albumentations", "torch"])
def test_shading_turns_constant_grey_into_a_ramp(backend):
    img = np.full((4, 16, 16, 3), 128, np.uint8)
    cfg = AugmentConfig(lighting=1.0, lighting_strength=0.6)
    if backend == "torch":
        x = torch.from_numpy(img).permute(0, 3, 1, 2).float()
        out = lighting.shade(x, cfg, torch.Generator().manual_seed(0)).permute(0, 2, 3, 1).numpy()
    else:
        op = A.Compose([lighting.DirectionalShading(0.6, p=1.0)], seed=0)
        out = np.stack([op(image=im)["image"] for im in img]).astype(np.float32)
    for o in out:
        assert np.all(o[..., 0] == o[..., 1]) and np.all(o[..., 1] == o[..., 2])  # colour untouched
        f = o[..., 0] / 128.0
        assert abs(f.mean() - 1) < 0.02  # a ramp about 1
        # planar: the image is affine in (x, y), i.e. a ramp along one direction
        yy, xx = np.mgrid[0:16, 0:16]
        design = np.c_[xx.ravel(), yy.ravel(), np.ones(256)]
        coef, res, *_ = np.linalg.lstsq(design, f.ravel(), rcond=None)
        assert np.abs(design @ coef - f.ravel()).max() < 0.01
        assert abs(f.max() - f.min() - 15 * (abs(coef[0]) + abs(coef[1]))) < 0.02  # extremes at opposite corners
        assert f.max() - f.min() <= 2 * 0.6 + 0.01


@pytest.mark.parametrize("backend", ["albumentations", "torch"])
def test_grey_conversion_gives_equal_channels(backend):
    img = faces(6)
    cfg = AugmentConfig(enabled=True, flip=False, shift=0, scale=0, brightness_contrast=0, grey=1.0)
    out = torch_aug(cfg, img, 0) if backend == "torch" else augment_batch(build_augment(cfg, 16, 0), img)
    assert np.allclose(out[..., 0], out[..., 1]) and np.allclose(out[..., 1], out[..., 2])
    expect = img.astype(np.float32) @ np.array(lighting.GREY_WEIGHTS, np.float32)
    np.testing.assert_allclose(out[..., 0].astype(np.float32), expect, atol=1.0)


@pytest.mark.parametrize("backend", ["albumentations", "torch"])
def test_gamma_is_a_monotone_power_of_the_intensity(backend):
    img = np.tile(np.arange(0, 256, 1, dtype=np.uint8).reshape(16, 16, 1), (4, 1, 1, 3))
    cfg = AugmentConfig(flip=False, shift=0, scale=0, brightness_contrast=0, gamma=0.5)
    out = torch_aug(cfg, img, 1) if backend == "torch" else augment_batch(build_augment(cfg, 16, 1), img)
    for o in out.astype(np.float32):
        v = o[..., 0].ravel()
        assert v[0] == 0 and v[-1] == pytest.approx(255, abs=0.5)
        assert np.all(np.diff(v) >= 0)  # order kept: photometric only
        mid = v[128] / 255  # (128/255)^g
        g = math.log(mid) / math.log(128 / 255)
        assert math.exp(-0.5) - 0.02 <= g <= math.exp(0.5) + 0.02


def test_bad_values_are_refused():
    for key in ("lighting", "grey", "lighting_strength"):
        with pytest.raises(UserError, match=f"augment.{key}"):
            load_config(None, [f"augment.{key}=1.5"])


@pytest.mark.parametrize("backend", ["albumentations", "torch"])
def test_train_smoke_with_lighting_on(tmp_path, backend):
    data, run = make_identity_set(tmp_path / "faces", identities=4, per_identity=6, size=16), tmp_path / "run"
    args = ["train", "--config", "configs/face/orl-smoke.yaml", "--data", str(data), "--out", str(run), *TINY_TRAIN]
    args += sets("train.epochs=1", "train.max_steps=2", f"augment.backend={backend}", "augment.lighting=0.5")
    args += sets("augment.lighting_strength=0.7", "augment.gamma=0.4", "augment.grey=0.2")
    assert main(args) == 0
    saved = torch.load(run / "checkpoints/last.pt", weights_only=True)["config"]["augment"]
    assert (saved["lighting"], saved["gamma"], saved["grey"]) == (0.5, 0.4, 0.2)
