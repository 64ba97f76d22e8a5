"""Detection recall by face size, false faces per frame and speed of lrface.detect (torch-free MTCNN) on
synthetic surveillance-like frames: real faces (celeba-wild-dev/faces) pasted at 12..64 px (feathered, at
known boxes) into backgrounds made from celeba-wild-dev/photos (their own faces painted out) and generated
textures. Prints a markdown table, one row per setting; the times include aligning and embedding every face.

    PYTHONPATH=. python tools/bench_detect.py [--frames 40] [--settings 12:1,12:2,16:1,20:1] [--threads 1] \
        [--before GIT_REF] [--rounds 2]

A setting is min_face_size:upscale[:max_candidates][+r] (``+r``: refine_landmarks=True, the scene detector's
landmarks: O-Net run again on each final box and its mirror). ``--before REF`` runs every setting also with the
detector of that commit (its lrface package, imported under another name), interleaved with this tree's
in each of ``--rounds`` timing rounds (the fastest round counts): a side-by-side on the same load.

A face counts as found when a detection overlaps its true box with IoU >= 0.5 (greedy, best score first);
every unmatched detection is a false face. Face size = the side of MTCNN's box on the full-size source face.
"""

from __future__ import annotations

import argparse
import glob
import importlib
import io
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from lrface.detect import FaceDetector, align_face
from lrface.imageio import read_image
from lrface.inference.embedder import Embedder
from lrface.pretrained import resolve_model

DATA = Path(os.environ.get("LRFACE_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
SIZES = (12, 14, 16, 18, 20, 24, 32, 48, 64)
BUCKETS = ((12, 16), (16, 20), (20, 32), (32, 65))


def load_faces(n: int, ref: FaceDetector, rng) -> list[tuple[np.ndarray, tuple]]:
    """(crop, reference box) of up to n source faces, each holding exactly one confident face."""
    files = sorted(glob.glob(str(DATA / "celeba-wild-dev" / "faces" / "*" / "*.jpg")))
    out = []
    for f in rng.permutation(files):
        image = read_image(f)
        faces = ref.detect(image)
        if len(faces) == 1 and faces[0].score > 0.99 and faces[0].box[2] >= 40:
            out.append((image, faces[0].box))
            if len(out) == n:
                break
    return out


def backgrounds(ref: FaceDetector, rng, n: int = 20) -> list[np.ndarray]:
    """The shared photos with every face found (at >= 10 px) painted out, plus as many generated textures."""
    out = []
    for f in sorted(glob.glob(str(DATA / "celeba-wild-dev" / "photos" / "*" / "*.jpg")))[:n]:
        image = read_image(f)
        mask = np.zeros(image.shape[:2], np.uint8)
        for face in ref.detect(image):
            x, y, w, h = face.box
            cv2.rectangle(mask, (int(x - 0.4 * w), int(y - 0.4 * h)), (int(x + 1.4 * w), int(y + 1.6 * h)), 255, -1)
        out.append(cv2.inpaint(image, mask, 5, cv2.INPAINT_TELEA))
    for _ in range(n):
        small = rng.uniform(30, 230, (int(rng.integers(3, 12)), int(rng.integers(4, 16)), 3)).astype(np.float32)
        bg = cv2.resize(small, (640, 480), interpolation=cv2.INTER_CUBIC)
        for _ in range(20):
            x, y = int(rng.integers(0, 600)), int(rng.integers(0, 440))
            colour = tuple(int(c) for c in rng.integers(0, 256, 3))
            cv2.rectangle(bg, (x, y), (x + int(rng.integers(5, 150)), y + int(rng.integers(5, 100))), colour, -1)
        out.append(np.clip(bg + rng.normal(0, 5, bg.shape), 0, 255).astype(np.uint8))
    return out


def paste(frame, face, box, size, at) -> tuple:
    """Paste ``face`` scaled so that ``box`` is ``size`` px wide with its corner at ``at``; -> true box."""
    k = size / box[2]
    small = cv2.resize(face, None, fx=k, fy=k, interpolation=cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR)
    bx, by, bw, bh = (v * k for v in box)
    ox, oy = int(round(at[0] - bx)), int(round(at[1] - by))
    mask = np.zeros(small.shape[:2], np.float32)
    cv2.ellipse(mask, (int(bx + bw / 2), int(by + bh / 2)), (int(bw * 0.58), int(bh * 0.62)), 0, 0, 360, 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), max(1.0, bw * 0.1))
    ramp = max(1.0, 0.15 * small.shape[1])  # fade out towards the source crop's own border: no hard edges
    yy, xx = np.mgrid[: small.shape[0], : small.shape[1]]
    edge = np.minimum.reduce([xx + 0.5, yy + 0.5, small.shape[1] - xx - 0.5, small.shape[0] - yy - 0.5])
    mask = (mask * np.clip(edge / ramp, 0, 1))[..., None]
    y0, x0 = max(oy, 0), max(ox, 0)
    y1, x1 = min(oy + small.shape[0], frame.shape[0]), min(ox + small.shape[1], frame.shape[1])
    src, m = small[y0 - oy : y1 - oy, x0 - ox : x1 - ox], mask[y0 - oy : y1 - oy, x0 - ox : x1 - ox]
    frame[y0:y1, x0:x1] = (m * src + (1 - m) * frame[y0:y1, x0:x1]).astype(np.uint8)
    return (ox + bx, oy + by, bw, bh)


def compose(bg, faces, rng, shape, per_frame: int, noise: float) -> tuple[np.ndarray, list, list]:
    """One frame of ``shape`` (h, w) with ``per_frame`` faces at sizes from SIZES, apart from each other."""
    h, w = shape
    frame = cv2.resize(bg, (w, h), interpolation=cv2.INTER_AREA)
    truth, sizes, taken = [], [], []
    for _ in range(per_frame):
        size = float(rng.choice(SIZES))
        face, box = faces[int(rng.integers(len(faces)))]
        for _ in range(50):
            x, y = rng.uniform(size, w - 2 * size), rng.uniform(size, h - 2.5 * size)
            if all(abs(x - tx) > 2 * max(size, ts) or abs(y - ty) > 2.5 * max(size, ts) for tx, ty, ts in taken):
                taken.append((x, y, size))
                truth.append(paste(frame, face, box, size, (x, y)))
                sizes.append(size)
                break
    if noise:
        frame = np.clip(frame + rng.normal(0, noise, frame.shape), 0, 255).astype(np.uint8)
    return frame, truth, sizes


def iou(a, b) -> float:
    w = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return w * h / (a[2] * a[3] + b[2] * b[3] - w * h)


def match(faces, truth) -> tuple[list[bool], int]:
    """Greedy matching (best score first, IoU >= 0.5): found flags per true box, and unmatched detections."""
    found, false = [False] * len(truth), 0
    for f in faces:
        best = max(range(len(truth)), key=lambda i: -1 if found[i] else iou(f.box, truth[i]), default=None)
        if best is not None and not found[best] and iou(f.box, truth[best]) >= 0.5:
            found[best] = True
        else:
            false += 1
    return found, false


def timed(detector, frames, embedder=None) -> tuple[list, float, float]:
    """Detections per frame, wall and CPU milliseconds per frame (with ``embedder``: every face aligned and
    embedded too, the serving path's whole per-frame work)."""

    def step(frame):
        faces = detector.detect(frame)
        if embedder is not None and faces:
            embedder.embed([align_face(frame, f) for f in faces])
        return faces

    step(frames[0])
    wall, cpu = time.perf_counter(), time.process_time()
    out = [step(f) for f in frames]
    n = len(frames)
    return out, (time.perf_counter() - wall) * 1000 / n, (time.process_time() - cpu) * 1000 / n


def detector_of(ref: str):
    """The FaceDetector class of git commit ``ref`` (its lrface package extracted as ``lrface_before``)."""
    root = Path(__file__).resolve().parents[1]
    archive = subprocess.run(["git", "archive", ref, "lrface"], cwd=root, capture_output=True, check=True).stdout
    tmp = Path(tempfile.mkdtemp(prefix="bench_detect_"))
    tarfile.open(fileobj=io.BytesIO(archive)).extractall(tmp, filter="data")
    (tmp / "lrface").rename(tmp / "lrface_before")
    sys.path.insert(0, str(tmp))
    return importlib.import_module("lrface_before.detect").FaceDetector


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=40, help="640x480 frames for recall (default 40)")
    p.add_argument("--per-frame", type=int, default=8, help="faces pasted per frame")
    p.add_argument("--settings", default="12:1,12:2,16:1,20:1", help="min_face_size:upscale[:max_candidates]")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="network threads: detection (OpenCV) and embedding (ONNX Runtime); 0: one per core",
    )
    p.add_argument("--noise", type=float, default=0.0, help="Gaussian pixel noise sigma added to each frame")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--before", metavar="GIT_REF", help="also run each setting with this commit's detector")
    p.add_argument("--rounds", type=int, default=1, help="timing rounds (the fastest counts)")
    p.add_argument("--timed", type=int, default=10, help="640x480 frames timed per round (default 10)")
    args = p.parse_args()
    rng = np.random.default_rng(args.seed)
    if not (DATA / "celeba-wild-dev").is_dir():
        raise SystemExit(f"{DATA / 'celeba-wild-dev'} is absent: set LRFACE_SHARED_DATA to the shared data folder")
    ref = FaceDetector(min_face_size=10, threads=args.threads)
    embedder = Embedder(resolve_model(None), threads=args.threads)
    faces, bgs = load_faces(200, ref, rng), backgrounds(ref, rng)
    data = [compose(bgs[i % len(bgs)], faces, rng, (480, 640), args.per_frame, args.noise) for i in range(args.frames)]
    hd = [
        compose(bgs[i % len(bgs)], faces, rng, (720, 1280), 12, args.noise)[0] for i in range(max(4, args.frames // 5))
    ]
    n_true = sum(len(t) for _, t, _ in data)
    print(
        f"{len(faces)} source faces, {args.frames} frames 640x480, {n_true} pasted faces; noise {args.noise}; "
        f"network threads {args.threads}; load average {os.getloadavg()[0]:.1f}"
    )
    head = " | ".join(f"recall {a}-{b - 1} px" for a, b in BUCKETS)
    versions = ([(f"before ({args.before})", detector_of(args.before))] if args.before else []) + [
        ("this tree", FaceDetector)
    ]
    print(
        f"| detector | min face | upscale | max candidates | {head} | false faces / frame "
        "| ms/frame 640x480 (CPU ms) | ms/frame 1280x720 (CPU ms) | load |"
    )
    print("|" + "---|" * (8 + len(BUCKETS)))
    for setting in args.settings.split(","):
        refine = setting.endswith("+r")
        min_face, up, *cap = (float(v) for v in setting.removesuffix("+r").split(":"))
        kw = {"max_candidates": int(cap[0])} if cap else {}
        if refine:
            kw["refine_landmarks"] = True
        dets = {  # max_candidates is new: such settings run on this tree only
            name: cls(min_face_size=min_face, upscale=up, threads=args.threads, **kw)
            for name, cls in versions
            if not (kw and name.startswith("before"))  # max_candidates and refine_landmarks are new
        }
        times = {name: [] for name in dets}
        for _ in range(args.rounds):
            for name, det in dets.items():
                _, wall, cpu = timed(det, [d[0] for d in data[: args.timed]], embedder)
                _, wall_hd, cpu_hd = timed(det, hd, embedder)
                times[name].append((cpu + cpu_hd, wall, cpu, wall_hd, cpu_hd))
        for name, det in dets.items():
            report(name + (" +refine" if refine else ""), det, data, min(times[name])[1:], cap)
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


def report(name, det, data, times, cap) -> None:
    """One table row: recall by size bucket and false faces over ``data``, and the given times."""
    found, _, _ = timed(det, [d[0] for d in data])
    hits = {b: [0, 0] for b in BUCKETS}
    false = 0
    for dets, (_, truth, sizes) in zip(found, data):
        ok, f = match(dets, truth)
        false += f
        for s, o in zip(sizes, ok):
            b = next(b for b in BUCKETS if b[0] <= s < b[1])
            hits[b][0] += o
            hits[b][1] += 1
    wall, cpu, wall_hd, cpu_hd = times
    rec = " | ".join(f"{100 * h / max(n, 1):.1f} % ({n})" for h, n in hits.values())
    print(
        f"| {name} | {det.min_face_size:g} | {det.upscale:g} | {int(cap[0]) if cap else 'default'} | {rec} "
        f"| {false / len(data):.2f} | {wall:.0f} ({cpu:.0f}) | {wall_hd:.0f} ({cpu_hd:.0f}) | {os.getloadavg()[0]:.1f} |"
    )


if __name__ == "__main__":
    main()
