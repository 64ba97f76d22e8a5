"""Frames/s of the all-faces pipeline (detect, align, embed, track, search: bench_scenes' speed rows) for several
scene-detector settings side by side: the same synthetic frames, the settings interleaved frame by frame, so
that a shared machine's load falls on all of them alike. Prints wall and CPU ms per frame (all threads).

    LRFACE_SHARED_DATA=../shared/data PYTHONPATH=. python tools/bench_scene_speed.py --settings 12,18+r --frames 30

A setting is min_face[:upscale][+r] (upscale: default the detector's rule, x2 below 20 px; ``+r``:
refine_landmarks, as the scene detector); threads: OpenCV's own (0).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import scene_synth as synth  # noqa: E402
from bench_scenes import SHARED, aligned  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--settings", default="12,18+r")
    p.add_argument("--frames", type=int, default=30, help="frames per size (640x480 and 1280x720)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="network threads (0: OpenCV's own, one per core)")
    args = p.parse_args()
    from lrface import Gallery, Recognizer
    from lrface.detect import FaceDetector
    from lrface.inference.scenes import MAX_FACES, embed_faces, find_faces
    from lrface.inference.tracking import Tracker

    rng = np.random.default_rng(args.seed)
    locator = FaceDetector(min_face_size=12)
    sources = synth.load_sources(SHARED / "faces", locator, 5, 40)
    probes = {n: s[3:] for n, s in sources.items()}
    backgrounds = synth.load_backgrounds(SHARED / "photos", locator)
    rec = Recognizer(threads=args.threads)
    tmp = tempfile.TemporaryDirectory()
    gallery = Gallery.create(Path(tmp.name) / "g", rec)
    gallery.add_many({n: [aligned(s.image, s.points) for s in g[:3]] for n, g in sources.items()}, rec)
    dets = {}
    for s in args.settings.split(","):
        min_face, *up = (float(v) for v in s.removesuffix("+r").split(":"))
        dets[s] = FaceDetector(
            min_face_size=min_face,
            upscale=up[0] if up else None,
            max_faces=MAX_FACES,
            refine_landmarks=s.endswith("+r"),
            threads=args.threads,
        )
    print(f"load average {os.getloadavg()[0]:.1f}; settings {args.settings}; threads {args.threads}")
    print("| setting | 640x480 ms/frame (CPU ms) | frames/s | 1280x720 ms/frame (CPU ms) | frames/s |")
    print("|---|---|---|---|---|")
    out = {s: [] for s in dets}
    for h, w in ((480, 640), (720, 1280)):
        frames = [
            synth.place_scene(backgrounds, probes, rng, rng.uniform(20, 48, size=6), h, w)[0]
            for _ in range(args.frames + 1)
        ]
        trackers = {s: Tracker() for s in dets}
        times = {s: [] for s in dets}
        for t, frame in enumerate(frames):
            for s, det in dets.items():
                start, cpu = time.perf_counter(), time.process_time()
                faces = find_faces(det, frame)
                emb = embed_faces(rec.embedder, faces)
                trackers[s].update(t / 25, [f.box for f in faces], emb)
                if len(emb):
                    gallery.search(emb, 1)
                if t:  # the first frame warms up
                    times[s].append((time.perf_counter() - start, time.process_time() - cpu))
        for s in dets:
            wall, cpu = np.mean(times[s], axis=0) * 1000
            out[s] += [f"{wall:.0f} ({cpu:.0f})", f"{1000 / wall:.2f}"]
    for s, cells in out.items():
        print(f"| {s} | " + " | ".join(cells) + " |")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
