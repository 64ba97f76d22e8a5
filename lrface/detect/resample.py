"""Area resampling exactly like torch's ``interpolate(mode="area")`` (adaptive average pooling: output cell
i averages input pixels floor(i*n/m) .. ceil((i+1)*n/m) - 1), which facenet-pytorch's MTCNN feeds its
networks with; done on one summed-area table per image, so pyramid levels and crops are a few gathers."""

from __future__ import annotations

import numpy as np


def summed_area(image: np.ndarray) -> np.ndarray:
    """(H+1) x (W+1) x C table of exact integer sums of a uint8 H x W x C image (int64)."""
    sat = np.zeros((image.shape[0] + 1, image.shape[1] + 1, image.shape[2]), np.int64)
    np.cumsum(image, axis=0, dtype=np.int64, out=sat[1:, 1:])
    np.cumsum(sat[1:, 1:], axis=1, out=sat[1:, 1:])
    return sat


def windows(start: np.ndarray, length: np.ndarray, out: int) -> tuple[np.ndarray, np.ndarray]:
    """Adaptive-pooling window bounds (N x out, absolute, end exclusive) over spans [start, start+length)."""
    i = np.arange(out, dtype=np.int64)
    length = np.asarray(length, np.int64)[:, None]
    lo = (i * length) // out
    hi = -((-(i + 1) * length) // out)  # ceil
    return np.asarray(start, np.int64)[:, None] + lo, np.asarray(start, np.int64)[:, None] + hi


def area_crops(sat: np.ndarray, x0, y0, x1, y1, size: tuple[int, int]) -> np.ndarray:
    """Regions [y0, y1) x [x0, x1) (arrays, N each) of the image behind ``sat``, each area-resized to
    size = (h, w): N x h x w x C float32 in the image's 0..255 range."""
    r0, r1 = windows(y0, np.asarray(y1) - np.asarray(y0), size[0])
    c0, c1 = windows(x0, np.asarray(x1) - np.asarray(x0), size[1])
    a, b = r0[:, :, None], r1[:, :, None]
    c, d = c0[:, None, :], c1[:, None, :]
    total = sat[b, d] - sat[a, d] - sat[b, c] + sat[a, c]
    count = ((b - a) * (d - c))[..., None]
    return (total / count).astype(np.float32)


def area_resize(sat: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The whole image area-resized to size = (h, w): h x w x C float32."""
    h, w = sat.shape[0] - 1, sat.shape[1] - 1
    return area_crops(sat, [0], [0], [w], [h], size)[0]
