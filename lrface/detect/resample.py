"""Area resampling exactly like torch's ``interpolate(mode="area")`` (adaptive average pooling: output cell
i averages input pixels floor(i*n/m) .. ceil((i+1)*n/m) - 1), which facenet-pytorch's MTCNN feeds its
networks with; every level and crop is four gathers from one exact summed-area table (cv2.integral)."""

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
    """One uint8 H x W x C image and its summed-area table (int32 while sums fit, else float64: exact)."""

    def __init__(self, image: np.ndarray):
        self.h, self.w = image.shape[:2]
        depth = cv2.CV_32S if self.h * self.w * 255 < 2**31 else cv2.CV_64F
        self.sat = cv2.integral(np.ascontiguousarray(image), sdepth=depth)

    def resize(self, size: tuple[int, int]) -> np.ndarray:
        """The whole image area-resized to size = (h, w): h x w x C float32."""
        (r0, r1), (c0, c1) = windows(0, self.h, size[0]), windows(0, self.w, size[1])
        band = np.take(self.sat, r1[0], axis=0)  # oh x (W+1) x C: prefix sums along x of each row window
        band -= np.take(self.sat, r0[0], axis=0)
        total = np.take(band, c1[0], axis=1)
        total -= np.take(band, c0[0], axis=1)
        count = ((r1[0] - r0[0])[:, None] * (c1[0] - c0[0])[None, :]).astype(np.float32)
        return total.astype(np.float32) / count[..., None]

    def crops(self, x0, y0, x1, y1, size: tuple[int, int]) -> np.ndarray:
        """Regions [y0, y1) x [x0, x1) (arrays, N each) area-resized to size = (h, w): N x h x w x C float32."""
        r0, r1 = windows(y0, np.asarray(y1) - np.asarray(y0), size[0])
        c0, c1 = windows(x0, np.asarray(x1) - np.asarray(x0), size[1])
        a, b, c, d = r0[:, :, None], r1[:, :, None], c0[:, None, :], c1[:, None, :]
        sat = self.sat
        total = sat[b, d] - sat[a, d] - sat[b, c] + sat[a, c]
        return (total.astype(np.float32) / ((b - a) * (d - c))[..., None].astype(np.float32)).astype(np.float32)
