"""`--draw`: boxes and names on images and video frames (OpenCV), written atomically."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from ..errors import UserError

VIDEO_CODECS = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}
_UNKNOWN_COLOUR = (160, 160, 160)


def colour(key) -> tuple[int, int, int]:
    """A stable, saturated BGR colour per identity (or track) name."""
    import zlib

    hue = zlib.crc32(str(key).encode()) % 180
    hsv = np.uint8([[[hue, 220, 255]]])
    return tuple(int(v) for v in cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0])


def draw_boxes(image_rgb: np.ndarray, boxes, labels: list[str], keys=None) -> np.ndarray:
    """A BGR copy of the image with each box (x, y, w, h) outlined and its label on a filled tag above
    it, coloured by ``keys`` (identity names; grey for None or "unknown"); line width and font grow
    with the image so labels stay readable."""
    out = np.ascontiguousarray(image_rgb[..., ::-1]).copy()
    h, w = out.shape[:2]
    scale = max(0.4, min(1.2, max(h, w) / 1400))
    thick = max(1, round(scale * 2))
    font = cv2.FONT_HERSHEY_SIMPLEX
    placed: list[tuple[int, int, int, int]] = []  # tags drawn so far (x0, y0, x1, y1)
    for box, label, key in zip(boxes, labels, keys or labels):
        x, y, bw, bh = (round(float(v)) for v in box)
        c = _UNKNOWN_COLOUR if key in (None, "unknown") else colour(key)
        cv2.rectangle(out, (x, y), (x + bw, y + bh), c, thick, cv2.LINE_AA)
        (tw, th), base = cv2.getTextSize(label, font, scale, 1)
        tx = max(0, min(x, w - tw - 4))  # the tag stays inside the picture
        spots = [y - 3, y + bh + th + base + 3]  # above the box, else below it
        spots = [ty for ty in spots if th + base <= ty < h] or [max(th + base, min(h - 1, y - 3))]
        ty = next(
            (t for t in spots if not any(_overlap((tx, t - th - base, tx + tw + 4, t + 2), r) for r in placed)),
            spots[0],
        )
        placed.append((tx, ty - th - base, tx + tw + 4, ty + 2))
        cv2.rectangle(out, (tx, ty - th - base), (tx + tw + 4, ty + 2), c, -1)
        cv2.putText(out, label, (tx + 2, ty - base + 1), font, scale, (0, 0, 0), 1, cv2.LINE_AA)
    return out


def _overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def face_label(identity: str | None, score: float | None, prefix: str = "") -> str:
    if identity is None:
        return prefix.strip() or "?"
    return f"{prefix}{identity} {score:.2f}" if score is not None else f"{prefix}{identity}"


def write_image(path: str | Path, bgr: np.ndarray) -> None:
    """Encode by the file name's extension and write atomically."""
    from ..fileio import atomic_write

    path = Path(path)
    ok, data = cv2.imencode(path.suffix.lower() or ".png", bgr)
    if not ok:
        raise UserError(f"--draw {path}: cannot write that image type; use .jpg or .png")
    atomic_write(path, lambda tmp: tmp.write_bytes(data.tobytes()))


def check_video_output(path: str | Path) -> None:
    from ..fileio import check_output

    path = Path(path)
    if path.suffix.lower() not in VIDEO_CODECS:
        raise UserError(f"--draw {path}: a video needs a video file name ({', '.join(VIDEO_CODECS)})")
    check_output(path, "file", label="--draw")


class VideoDrawer:
    """cv2.VideoWriter into a temporary file beside ``path``, renamed onto it by :meth:`close` (nothing
    half-written remains after an error: :meth:`abort`)."""

    def __init__(self, path: str | Path, fps: float):
        self.path = Path(path)
        self.fps = fps if fps and fps > 0 else 25.0
        self.tmp = self.path.with_name(f".{self.path.stem}.{os.getpid()}.tmp{self.path.suffix}")
        self.writer = None

    def write(self, bgr: np.ndarray) -> None:
        """Append a frame. The video takes the first frame's size, padded to even sides (the codecs cut an odd
        row or column); a later frame of another size is scaled to it, not dropped."""
        if self.writer is None:
            self.size = (bgr.shape[1] + bgr.shape[1] % 2, bgr.shape[0] + bgr.shape[0] % 2)
            self.tmp.parent.mkdir(parents=True, exist_ok=True)
            fourcc = cv2.VideoWriter_fourcc(*VIDEO_CODECS[self.path.suffix.lower()])
            self.writer = cv2.VideoWriter(str(self.tmp), fourcc, self.fps, self.size)
            if not self.writer.isOpened():
                self.abort()
                raise UserError(f"--draw {self.path}: OpenCV cannot write this video type here; use .avi (MJPG)")
        h, w = bgr.shape[:2]
        if (w + w % 2, h + h % 2) != self.size:
            bgr = cv2.resize(bgr, self.size, interpolation=cv2.INTER_AREA)
        elif (w, h) != self.size:
            bgr = cv2.copyMakeBorder(bgr, 0, h % 2, 0, w % 2, cv2.BORDER_REPLICATE)
        self.writer.write(np.ascontiguousarray(bgr))

    def close(self) -> None:
        if self.writer is None:
            return
        self.writer.release()
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.release()
        if self.tmp.exists():
            self.tmp.unlink()
