"""The geometric augmentation moves 16x16 faces on both paths (albumentations on the host, torch on the device).

albumentations' translate_percent is int(fraction x side) pixels: 0.0625 of 16 px was always 0, so until
2026-12-04 the host path never shifted a face (results/2026-12-04-x2-cosface-cpu.md). Shift alone here.
"""

import numpy as np
import pytest
import torch

from lrface.config import AugmentConfig, load_config
from lrface.data.augment import augment_batch, build_augment
from lrface.data.device import augment
from lrface.errors import UserError

SHIFT_ONLY = AugmentConfig(flip=False, scale=0.0, brightness_contrast=0.0)  # shift 0.0625 (the default)


def centroids(images: np.ndarray) -> np.ndarray:
    """x, y of each image's brightness centroid."""
    m = images[..., 0].astype(np.float64)
    ys, xs = np.mgrid[: m.shape[1], : m.shape[2]]
    w = m.sum((1, 2))
    return np.stack([(m * xs).sum((1, 2)) / w, (m * ys).sum((1, 2)) / w], 1)


def augmented(images: np.ndarray, cfg: AugmentConfig, backend: str) -> np.ndarray:
    """``images`` through the torch (device) or albumentations (host) augmentation, seed 0."""
    if backend == "torch":
        return augment(torch.from_numpy(images), cfg, torch.Generator().manual_seed(0)).numpy()
    return augment_batch(build_augment(cfg, 16, seed=0), images)


@pytest.mark.parametrize("backend", ["albumentations", "torch"])
def test_the_default_shift_moves_a_16px_face_by_up_to_a_pixel(backend):
    bar = np.zeros((400, 16, 16, 3), np.uint8)
    bar[:, 4:12, 6:10] = 255
    out = augmented(bar, SHIFT_ONLY, backend)
    moved = centroids(out) - centroids(bar[:1])
    assert 0.3 < moved.std(0).min() and np.abs(moved).max() <= 1.01  # both axes move; never beyond 1 px
    assert (np.abs(moved).max(1) > 0.5).mean() > 0.4  # a visible shift in a good share of the faces


def test_with_degrade_the_shift_applies_at_the_native_size():
    bar = np.zeros((400, 64, 64, 3), np.uint8)
    bar[:, 16:48, 24:40] = 255
    cfg = AugmentConfig(flip=False, scale=0.0, brightness_contrast=0.0, degrade=True, degrade_filters=["area"])
    out = augment_batch(build_augment(cfg, 16, seed=0, native_size=64), bar)
    assert out.shape == (400, 16, 16, 3)
    moved = centroids(out) - centroids(bar[:1, ::4, ::4])
    assert 0.2 < moved.std(0).min() and np.abs(moved).max() <= 1.01  # up to 4 px of 64 = 1 px of 16
    # the whole range on both sides: a fraction given to albumentations was truncated toward 0 (3 px at most)
    assert (moved.min(0) < -0.95).all() and (moved.max(0) > 0.95).all()


def test_with_degrade_the_native_size_is_required():
    cfg = AugmentConfig(degrade=True)
    with pytest.raises(ValueError, match="native_size"):
        build_augment(cfg, 16, seed=0)


@pytest.mark.parametrize("backend", ["albumentations", "torch"])
def test_shift_p_shifts_that_share_of_the_faces_only(backend):
    bar = np.zeros((1000, 16, 16, 3), np.uint8)
    bar[:, 4:12, 6:10] = 255
    cfg = AugmentConfig(flip=False, scale=0.0, brightness_contrast=0.0, shift_p=0.3)
    out = augmented(bar, cfg, backend)
    moved = np.abs(centroids(out) - centroids(bar[:1])).max(1) > 1e-6
    # torch: every drawn shift is sub-pixel and non-zero; albumentations: 8 of 9 whole-pixel draws move the face
    share = 0.3 if backend == "torch" else 0.3 * 8 / 9
    assert abs(moved.mean() - share) < 0.05


@pytest.mark.parametrize("value", ["1.5", "-0.1"])
def test_shift_p_outside_0_1_is_refused(value):
    with pytest.raises(UserError, match="augment.shift_p"):
        load_config(None, [f"augment.shift_p={value}"])


@pytest.mark.parametrize("backend", ["albumentations", "torch"])
@pytest.mark.parametrize("shift_p", [1.0, 0.0])
def test_pad_crop_is_a_whole_pixel_zero_filled_crop_of_up_to_pad_on_both_paths(backend, shift_p):
    # the torch path once folded the crop into the shift: twice the offset, reflected borders, and skipped with it
    # for the share shift_p left unshifted
    rng = np.random.default_rng(0)
    images = rng.integers(1, 256, (300, 16, 16, 3), dtype=np.uint8)  # no zero pixel: a zero is padding
    cfg = AugmentConfig(flip=False, shift=0.0, scale=0.0, brightness_contrast=0.0, pad_crop=2, shift_p=shift_p)
    out = np.rint(augmented(images, cfg, backend)).astype(np.uint8)
    padded = np.pad(images, ((0, 0), (2, 2), (2, 2), (0, 0)))
    offsets = []
    for i in range(len(images)):
        hits = [
            (dy, dx) for dy in range(5) for dx in range(5) if (padded[i, dy : dy + 16, dx : dx + 16] == out[i]).all()
        ]
        assert hits, f"image {i} is not a crop of the zero-padded image"
        offsets.append(hits[0])
    offsets = np.array(offsets) - 2
    assert set(offsets.ravel()) == {-2, -1, 0, 1, 2}  # every offset in [-pad, pad], on both axes
