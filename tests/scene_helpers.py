"""Generated scenes for the all-faces and video tests: two real faces (skimage's astronaut and cameraman)
pasted at known boxes and sizes onto a textured background, and a tiny MJPG video of them moving."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

skimage_data = pytest.importorskip("skimage.data")

# face boxes (x, y, w, h) of the two photos as MTCNN finds them at full resolution
FACES = {"astronaut": (182, 64, 85, 111), "cameraman": (198, 117, 58, 81)}


def photo(name: str) -> np.ndarray:
    if name == "astronaut":
        return skimage_data.astronaut()
    return np.repeat(skimage_data.camera()[..., None], 3, axis=2)


def background(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A faceless textured background: brick texture, tinted, with smooth colour variation."""
    rng = np.random.default_rng(seed)
    brick = cv2.resize(skimage_data.brick(), (w, h)).astype(np.float32)
    tint = cv2.resize(rng.uniform(60, 200, (3, 4, 3)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    return np.clip(0.5 * brick[..., None] + 0.5 * tint, 0, 255).astype(np.uint8)


def patch(name: str, side: float) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    """The photo's face region (1.5 times the face box) scaled so the face is ``side`` px wide: (patch, feathered
    alpha, offset of the face box's top-left corner inside the patch)."""
    x, y, w, h = FACES[name]
    s = side / w
    cx, cy, half = x + w / 2, y + h / 2, 0.75 * max(w, h)
    m = np.array([[s, 0, -(cx - half) * s], [0, s, -(cy - half) * s]])
    n = max(4, round(2 * half * s))
    out = cv2.warpAffine(photo(name), m, (n, n), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT)
    yy, xx = np.mgrid[:n, :n] / max(n - 1, 1) * 2 - 1
    alpha = np.clip((1 - np.maximum(abs(xx), abs(yy))) * 4, 0, 1)[..., None]
    return out, alpha, ((x - (cx - half)) * s, (y - (cy - half)) * s)


def paste(frame: np.ndarray, name: str, side: float, at: tuple[int, int]) -> tuple[float, float, float, float]:
    """Paste ``name``'s face ``side`` px wide with its region's top-left at ``at``; returns the face box."""
    p, alpha, (ox, oy) = patch(name, side)
    x0, y0 = at
    region = frame[y0 : y0 + p.shape[0], x0 : x0 + p.shape[1]]
    p, alpha = p[: region.shape[0], : region.shape[1]], alpha[: region.shape[0], : region.shape[1]]
    region[:] = (alpha * p + (1 - alpha) * region).astype(np.uint8)
    x, y, w, h = FACES[name]
    s = side / w
    return (x0 + ox, y0 + oy, w * s, h * s)


def scene(sizes=(24, 40, 64), h: int = 300, w: int = 400) -> tuple[np.ndarray, list[tuple[str, tuple]]]:
    """A frame with both faces at each size (a column per size, a row per person); returns
    (frame, [(identity, face box)])."""
    frame, truth, x = background(h, w), [], 10
    for side in sizes:
        for j, name in enumerate(FACES):
            truth.append((name, paste(frame, name, side, (x, 10 + j * h // 2))))
        x += round(2.2 * side)
    return frame, truth


def write_video(path: Path, frames: int = 12, h: int = 240, w: int = 320, fps: float = 10.0) -> list[dict]:
    """An MJPG .avi of both faces (48 px) moving across the frame; returns each person's true run."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    bg = background(h, w, seed=1)
    for t in range(frames):
        frame = bg.copy()
        paste(frame, "astronaut", 48, (10 + 6 * t, 20))
        paste(frame, "cameraman", 48, (w - 110 - 6 * t, h - 110))
        writer.write(np.ascontiguousarray(frame[..., ::-1]))
    writer.release()
    return [{"identity": n, "frames": frames, "start": 0.0, "end": (frames - 1) / fps} for n in FACES]


def gallery_folder(root: Path, detector) -> Path:
    """A gallery folder of the two people: their aligned working crops, plus a flipped copy each."""
    from lrface.detect import align_face

    for name in FACES:
        image = photo(name)
        [face] = detector.detect(image)[:1]
        crop = align_face(image, face)
        (root / name).mkdir(parents=True, exist_ok=True)
        for k, im in enumerate((crop, crop[:, ::-1])):
            assert cv2.imwrite(str(root / name / f"{k}.png"), np.ascontiguousarray(im[..., ::-1]))
    return root


def box_iou(a, b) -> float:
    from lrface.inference.tracking import iou

    return float(iou(np.asarray(a), np.asarray(b))[0, 0])


def assert_cli_imports_no_torch(argv: list[str]) -> None:
    """Run `lrface ARGV` in a fresh interpreter: it must succeed without torch in sys.modules."""
    from serving_helpers import REPO

    code = (
        f"import sys; from lrface.cli import main; rc = main({[str(a) for a in argv]!r}); "
        "assert rc == 0, rc; assert 'torch' not in sys.modules, 'torch imported'"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
