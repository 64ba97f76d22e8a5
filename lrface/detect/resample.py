"""Area resampling exactly like torch's ``interpolate(mode="area")`` (adaptive average pooling: output cell
i averages input pixels floor(i*n/m) .. ceil((i+1)*n/m) - 1), which facenet-pytorch's MTCNN feeds its
networks with; every level and crop is four gathers from one exact summed-area table (cv2.integral) per
colour plane, so results come out channel-first (the networks' N x 3 x H x W) without a transpose."""

from __future__ import annotations

import cv2
import numpy as np


def windows(start, length, out: int) -> tuple[np.ndarray, np.ndarray]:
    """Adaptive-pooling window bounds (N x out, absolute, end exclusive) over spans [start, start+length)."""
    i = np.arange(out, dtype=np.int64)
    length = np.asarray(length, np.int64).reshape(-1, 1)
    lo = (i * length) // out
    hi = -((-(i + 1) * length) // out)  # ceil
    start = np.asarray(start, np.int64).reshape(-1, 1)
    return start + lo, start + hi


class AreaSampler:
    """One uint8 H x W x 3 image and its summed-area tables, 3 x (H+1) x (W+1) (int32 while sums fit, else
    float64: exact)."""

    def __init__(self, image: np.ndarray):
        self.h, self.w = image.shape[:2]
        exact32 = self.h * self.w * 255 < 2**31
        self.sat = np.empty((3, self.h + 1, self.w + 1), np.int32 if exact32 else np.float64)
        for plane, sat in zip(cv2.split(np.ascontiguousarray(image)), self.sat):
            cv2.integral(plane, sum=sat, sdepth=cv2.CV_32S if exact32 else cv2.CV_64F)  # written in place

    def resize(self, size: tuple[int, int]) -> np.ndarray:
        """The whole image area-resized to size = (h, w): 3 x h x w float32."""
        (r0, r1), (c0, c1) = windows(0, self.h, size[0]), windows(0, self.w, size[1])
        band = np.take(self.sat, r1[0], axis=1)  # 3 x oh x (W+1): prefix sums along x of each row window
        band -= np.take(self.sat, r0[0], axis=1)
        total = np.take(band, c1[0], axis=2)
        total -= np.take(band, c0[0], axis=2)
        count = ((r1[0] - r0[0])[:, None] * (c1[0] - c0[0])[None, :]).astype(np.float32)
        return total.astype(np.float32) / count

    def crops(self, x0, y0, x1, y1, size: tuple[int, int]) -> np.ndarray:
        """Regions [y0, y1) x [x0, x1) (arrays, N each) area-resized to size = (h, w): N x 3 x h x w float32."""
        r0, r1 = windows(y0, np.asarray(y1) - np.asarray(y0), size[0])
        c0, c1 = windows(x0, np.asarray(x1) - np.asarray(x0), size[1])
        stride = self.sat.shape[2]
        a, b = (r0 * stride)[:, None, :, None], (r1 * stride)[:, None, :, None]
        c, d = c0[:, None, None, :], c1[:, None, None, :]
        plane = (np.arange(3) * self.sat[0].size)[None, :, None, None]
        flat = self.sat.reshape(-1)
        total = flat[plane + b + d] - flat[plane + a + d] - flat[plane + b + c] + flat[plane + a + c]
        return (
            total.astype(np.float32) / ((r1 - r0)[:, None, :, None] * (c1 - c0)[:, None, None, :]).astype(np.float32)
        ).astype(np.float32)
