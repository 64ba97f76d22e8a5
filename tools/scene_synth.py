"""Synthetic surveillance frames and clips for tools/bench_scenes.py, composed from the shared photos.

Faces: in-the-wild CelebA crops (celeba-wild-dev/faces, 112 px, identity-labelled), each located once at
its own resolution by the detector (box and five landmarks: the ground truth). Backgrounds: the 40
uncropped photos of celeba-wild-dev/photos with every detected face (and a margin) inpainted away, cropped
and resized to the frame size. A face is pasted as the region 1.6x its box, scaled to the wanted face
width, with feathered edges (nothing from outside the 112 px crop); its box and landmarks are mapped with it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np


@dataclass
class Source:
    identity: str
    image: np.ndarray  # the 112 px crop, RGB
    box: np.ndarray  # x, y, w, h of its face in the crop
    points: np.ndarray  # 5 x 2 landmarks in the crop


@dataclass
class Placed:
    identity: str
    box: np.ndarray  # x, y, w, h in the frame
    points: np.ndarray  # 5 x 2 in the frame
    source: Source


def load_sources(root: Path, detector, min_images: int, max_identities: int) -> dict[str, list[Source]]:
    """Per identity (with >= ``min_images`` usable crops, at most ``max_identities``): its located faces."""
    from lrface.imageio import read_image

    out: dict[str, list[Source]] = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        files = sorted(folder.glob("*.jpg"))
        if len(files) < min_images:
            continue
        found = []
        for f in files:
            image = read_image(f)
            faces = detector.detect(image)
            if faces:
                face = max(faces, key=lambda x: x.box[2] * x.box[3])
                found.append(Source(folder.name, image, np.array(face.box), np.asarray(face.landmarks)))
        if len(found) >= min_images:
            out[folder.name] = found
        if len(out) >= max_identities:
            break
    return out


def load_backgrounds(root: Path, detector) -> list[np.ndarray]:
    """The uncropped photos with their faces (boxes enlarged 1.8x) inpainted away, repeated until the
    detector finds none (photos where faces remain after three rounds are left out)."""
    from lrface.imageio import read_image

    out = []
    for f in sorted(root.glob("*/*.jpg")):
        image = read_image(f)
        for _ in range(3):
            faces = detector.detect(image)
            if not faces:
                out.append(image)
                break
            mask = np.zeros(image.shape[:2], np.uint8)
            for face in faces:
                x, y, w, h = face.box
                cx, cy, r = x + w / 2, y + h / 2, 0.9 * max(w, h)
                cv2.rectangle(mask, (int(cx - r), int(cy - r)), (int(cx + r), int(cy + r * 1.3)), 255, -1)
            image = cv2.inpaint(image, mask, 5, cv2.INPAINT_TELEA)
    return out


def frame_background(backgrounds, rng, h: int, w: int) -> np.ndarray:
    """A random crop (at least half the photo's side) of a random background, resized to h x w."""
    bg = backgrounds[rng.integers(len(backgrounds))]
    H, W = bg.shape[:2]
    ch = int(rng.uniform(0.5, 1.0) * min(H, W * h / w))
    cw = int(ch * w / h)
    y, x = rng.integers(0, H - ch + 1), rng.integers(0, W - cw + 1)
    return cv2.resize(bg[y : y + ch, x : x + cw], (w, h), interpolation=cv2.INTER_LINEAR)


def paste(frame: np.ndarray, src: Source, side: float, centre: tuple[float, float]) -> Placed:
    """Paste ``src``'s face ``side`` px wide centred at ``centre``; returns its ground truth."""
    x, y, w, h = src.box
    s = side / w
    half = 0.8 * max(w, h)
    cx, cy = x + w / 2, y + h / 2
    n = max(4, int(np.ceil(2 * half * s)))
    image, m = src.image, np.array([[s, 0, -(cx - half) * s], [0, s, -(cy - half) * s]])
    if s < 1:  # area-resize first so that small faces are not aliased
        image = cv2.resize(src.image, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
        m = np.array([[1, 0, -(cx - half) * s], [0, 1, -(cy - half) * s]])
    patch = cv2.warpAffine(image, m, (n, n), flags=cv2.INTER_LINEAR)
    inside = cv2.warpAffine(np.ones(image.shape[:2], np.float32), m, (n, n), flags=cv2.INTER_LINEAR)
    yy, xx = np.mgrid[:n, :n] / max(n - 1, 1) * 2 - 1
    alpha = (np.clip((1 - np.maximum(abs(xx), abs(yy))) * 5, 0, 1) * inside)[..., None]  # nothing outside the crop
    x0, y0 = round(centre[0] - n / 2), round(centre[1] - n / 2)
    fx0, fy0 = max(0, x0), max(0, y0)
    fx1, fy1 = min(frame.shape[1], x0 + n), min(frame.shape[0], y0 + n)
    p = patch[fy0 - y0 : fy1 - y0, fx0 - x0 : fx1 - x0].astype(np.float32)
    a = alpha[fy0 - y0 : fy1 - y0, fx0 - x0 : fx1 - x0]
    region = frame[fy0:fy1, fx0:fx1]
    region[:] = (a * p + (1 - a) * region).astype(np.uint8)
    shift = np.array([x0 - (cx - half) * s, y0 - (cy - half) * s])
    return Placed(
        src.identity, np.array([x * s + shift[0], y * s + shift[1], w * s, h * s]), src.points * s + shift, src
    )


def place_scene(backgrounds, probes, rng, sides, h: int, w: int) -> tuple[np.ndarray, list[Placed]]:
    """One frame with a face of each given width at random non-overlapping places (random identities)."""
    frame, placed, taken = frame_background(backgrounds, rng, h, w), [], []
    names = list(probes)
    for side in sides:
        r = 1.1 * side
        for _ in range(50):
            c = rng.uniform([r + 2, 1.3 * r + 2], [w - r - 2, h - 1.3 * r - 2])
            if all(abs(c[0] - o[0]) > r + o[2] or abs(c[1] - o[1]) > 1.3 * (r + o[2]) for o in taken):
                break
        else:
            continue
        taken.append((c[0], c[1], r))
        who = probes[names[rng.integers(len(names))]]
        placed.append(paste(frame, who[rng.integers(len(who))], side, tuple(c)))
    return frame, placed


def degrade(frame: np.ndarray, rng, blur: float, noise: float) -> np.ndarray:
    """Motion blur (a random direction, ``blur`` px long) and Gaussian noise (sigma ``noise``)."""
    out = frame
    if blur >= 2:
        k = int(round(blur)) | 1
        kernel = np.zeros((k, k), np.float32)
        kernel[k // 2] = 1.0 / k
        rot = cv2.getRotationMatrix2D((k / 2 - 0.5, k / 2 - 0.5), float(rng.uniform(0, 180)), 1.0)
        kernel = cv2.warpAffine(kernel, rot, (k, k))
        out = cv2.filter2D(out, -1, kernel / max(kernel.sum(), 1e-6))
    return np.clip(out + rng.normal(0, noise, out.shape), 0, 255).astype(np.uint8)


def clip_frames(backgrounds, probes, rng, frames: int, people: int, h: int, w: int):
    """A clip of ``people`` faces (20-40 px) walking on straight lines across one background, with pose
    changes (the identity's next crop every 8 frames), blur and noise; yields (frame, [Placed])."""
    bg = frame_background(backgrounds, rng, h, w)
    names = rng.choice(list(probes), size=people, replace=False)
    walk = []
    for k, name in enumerate(names):
        side = rng.uniform(20, 40)
        y = (k + 0.5) * h / people
        start = np.array([rng.uniform(0.1, 0.3) * w, y]) if k % 2 == 0 else np.array([rng.uniform(0.7, 0.9) * w, y])
        velocity = np.array([(1 if k % 2 == 0 else -1) * rng.uniform(0.3, 0.6) * w / frames, rng.uniform(-1, 1)])
        walk.append((name, side, start, velocity, rng.permutation(len(probes[name]))))
    for t in range(frames):
        frame, placed = bg.copy(), []
        for name, side, start, velocity, order in walk:
            src = probes[name][order[(t // 8) % len(order)]]
            size = side * (1 + 0.1 * np.sin(t / 5))
            placed.append(paste(frame, src, size, tuple(start + velocity * t)))
        yield degrade(frame, rng, rng.uniform(0, 5), rng.uniform(3, 8)), placed
