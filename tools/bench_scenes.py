"""Scenes and video benchmark: synthetic surveillance frames and clips composed from the shared photos
(tools/scene_synth.py), run through the torch-free all-faces and video path of `lrface identify`.

Rows: detection recall by face width (12-16, 16-20, 20-32, 32-64 px; a detection matches a true face at
IoU >= 0.5, one-to-one) and false faces per 10 frames; identification (top-1, gallery of the packaged model)
of the detected faces against the same faces aligned with their true landmarks from the same frame pixels,
and from their original 112 px crops; on clips, track-level (pooled mean, and two votes) against
frame-level identification on tracks of >= 10 frames; frames/s at 640x480 and 1280x720 (detect, align,
embed, track, search; the machine's cores).

    python tools/bench_scenes.py --report results/2026-12-04-scenes.md
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from collections import Counter, defaultdict
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import scene_synth as synth  # noqa: E402

from lrface.inference.tracking import Tracker, iou  # noqa: E402

BUCKETS = [(12, 16), (16, 20), (20, 32), (32, 64)]
SHARED = (
    Path(os.environ.get("LRFACE_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
    / "celeba-wild-dev"
)


def bucket(width: float) -> str:
    for lo, hi in BUCKETS:
        if width < hi or hi == BUCKETS[-1][1]:
            return f"{lo}-{hi}"
    return "other"


def match(truth_boxes, det_boxes, min_iou: float = 0.5) -> dict[int, int]:
    """One-to-one truth -> detection pairs with IoU >= min_iou (Hungarian on IoU)."""
    from scipy.optimize import linear_sum_assignment

    if not len(truth_boxes) or not len(det_boxes):
        return {}
    overlap = iou(np.asarray(truth_boxes), np.asarray(det_boxes))
    rows, cols = linear_sum_assignment(-overlap)
    return {int(r): int(c) for r, c in zip(rows, cols) if overlap[r, c] >= min_iou}


def aligned(image, points):
    from lrface.detect import Face, align_face

    return align_face(image, Face((0, 0, 1, 1), 1.0, np.asarray(points, np.float64)))


class Bench:
    def __init__(self, args):
        from lrface import Gallery, Recognizer
        from lrface.detect import FaceDetector
        from lrface.inference.scenes import MIN_FACE, make_detector

        self.args, self.rng = args, np.random.default_rng(args.seed)
        self.detector, self.rec = make_detector(args.min_face or MIN_FACE), Recognizer(args.model, threads=0)
        # the ground truth (source faces' boxes and landmarks, faceless backgrounds) is located by one fixed
        # detector, whatever the setting under test: the frames, gallery and probes stay the same across settings
        locator = FaceDetector(min_face_size=12)
        sources = synth.load_sources(args.faces, locator, args.min_images, args.identities)
        self.gallery_sources = {n: s[: args.enrol] for n, s in sources.items()}
        self.probes = {n: s[args.enrol :] for n, s in sources.items()}
        self.backgrounds = synth.load_backgrounds(args.photos, locator)
        self.tmp = tempfile.TemporaryDirectory()
        self.gallery = Gallery.create(Path(self.tmp.name) / "g", self.rec)
        self.gallery.add_many(
            {n: [aligned(s.image, s.points) for s in group] for n, group in self.gallery_sources.items()}, self.rec
        )

    def identify(self, crops) -> list[str]:
        if not len(crops):
            return []
        return [r.identity for r in self.gallery.search(self.rec.embedder.embed(list(crops)), 1)]

    def scenes(self) -> dict:
        from lrface.inference.scenes import find_faces

        a = self.args
        found, total, false, frames = Counter(), Counter(), 0, 0
        ident = defaultdict(lambda: np.zeros(3))  # bucket -> [detected right, true-landmark crop right, original right]
        for _ in range(a.frames):
            sides = [self.rng.uniform(*BUCKETS[i % len(BUCKETS)]) for i in range(a.faces_per_frame)]
            frame, placed = synth.place_scene(self.backgrounds, self.probes, self.rng, sides, 480, 640)
            faces = find_faces(self.detector, frame)
            pairs = match([p.box for p in placed], [f.box for f in faces])
            false += len(faces) - len(pairs)
            frames += 1
            total.update(bucket(p.box[2]) for p in placed)
            hits = sorted(pairs.items())
            got = self.identify([faces[j].crop for _, j in hits])
            ref = self.identify([aligned(frame, placed[i].points) for i, _ in hits])
            orig = self.identify([aligned(placed[i].source.image, placed[i].source.points) for i, _ in hits])
            for (i, _), g, r, o in zip(hits, got, ref, orig):
                b, who = bucket(placed[i].box[2]), placed[i].identity
                found[b] += 1
                ident[b] += [g == who, r == who, o == who]
        return {"found": found, "total": total, "false": false, "frames": frames, "ident": dict(ident)}

    def clips(self) -> dict:
        from lrface.inference.scenes import embed_faces, find_faces

        a = self.args
        per_track = defaultdict(list)  # (clip, track) -> [(true identity, embedding)]
        for c in range(a.clips):
            tracker = Tracker()
            for t, (frame, placed) in enumerate(
                synth.clip_frames(self.backgrounds, self.probes, self.rng, a.clip_frames, a.people, 480, 640)
            ):
                faces = find_faces(self.detector, frame)
                emb = embed_faces(self.rec.embedder, faces)
                ids = tracker.update(t / 25, [f.box for f in faces], emb, [f.det_score for f in faces])
                truth = {
                    j: placed[i].identity for i, j in match([p.box for p in placed], [f.box for f in faces]).items()
                }
                for j, tid in enumerate(ids):
                    per_track[(c, tid)].append((truth.get(j), emb[j]))
        right = Counter()
        n_tracks, n_views, people = 0, 0, a.clips * a.people
        for views in per_track.values():
            if len(views) < 10:
                continue
            who = Counter(v[0] for v in views).most_common(1)[0][0]
            if who is None:
                continue
            emb = np.stack([v[1] for v in views])
            results = self.gallery.search(emb, 1)
            frame_ids = [r.identity for r in results]
            pooled = emb.sum(0)
            [track] = self.gallery.search((pooled / np.linalg.norm(pooled))[None].astype(np.float32), 1)
            n_tracks += 1
            n_views += len(views)
            right["frame"] += sum(f == w for f, (w, _) in zip(frame_ids, views))
            right["pooled"] += track.identity == who
            right["majority"] += Counter(frame_ids).most_common(1)[0][0] == who
            right["max-score"] += results[int(np.argmax([r.score for r in results]))].identity == who
        return {"right": right, "tracks": n_tracks, "views": n_views, "people": people}

    def speed(self, h: int, w: int) -> tuple[float, float]:
        """(frames/s by the wall clock, CPU seconds per frame: all threads of this process)."""
        from lrface.inference.scenes import embed_faces, find_faces

        tracker, times, cpu = Tracker(), [], []
        for t in range(self.args.speed_frames + 1):
            sides = self.rng.uniform(20, 48, size=6)
            frame, _ = synth.place_scene(self.backgrounds, self.probes, self.rng, sides, h, w)
            start, start_cpu = time.perf_counter(), time.process_time()
            faces = find_faces(self.detector, frame)
            emb = embed_faces(self.rec.embedder, faces)
            tracker.update(t / 25, [f.box for f in faces], emb)
            if len(emb):
                self.gallery.search(emb, 1)
            times.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
        return 1 / float(np.mean(times[1:])), float(np.mean(cpu[1:]))  # the first frame warms up


def table(s: dict, c: dict, fps: dict) -> tuple[list[str], dict]:
    pct = lambda a, b: 100.0 * a / b if b else float("nan")
    rows = ["| measure | value | n |", "| --- | ---: | ---: |"]
    for lo, hi in BUCKETS:
        b = f"{lo}-{hi}"
        rows.append(f"| detection recall, faces {b} px | {pct(s['found'][b], s['total'][b]):.1f} % | {s['total'][b]} |")
    rows.append(f"| false faces per 10 frames | {10 * s['false'] / s['frames']:.2f} | {s['frames']} frames |")
    det = np.sum([v for v in s["ident"].values()], axis=0) if s["ident"] else np.zeros(3)
    n = sum(s["found"].values())
    for k, what in enumerate(("detected + aligned in the frame", "true landmarks, same frame pixels", "original crop")):
        rows.append(f"| identification top-1, {what} | {pct(det[k], n):.1f} % | {n} faces |")
    for b, v in sorted(s["ident"].items()):
        rows.append(
            f"| ... faces {b} px: detected / true landmarks | "
            f"{pct(v[0], s['found'][b]):.1f} / {pct(v[1], s['found'][b]):.1f} % | {s['found'][b]} |"
        )
    r, t = c["right"], c["tracks"]
    rows.append(
        f"| clips: frame-level identification (views of tracks >= 10 frames) | {pct(r['frame'], c['views']):.1f} % | {c['views']} views |"
    )
    for k in ("pooled", "majority", "max-score"):
        rows.append(
            f"| clips: track-level identification, {k} | {pct(r[k], t):.1f} % | {t} tracks ({c['people']} people) |"
        )
    for size, (v, cpu) in fps.items():
        rows.append(f"| frames/s at {size} (detect+align+embed+track+search) | {v:.2f} | |")
        rows.append(f"| CPU seconds per frame at {size} (all threads) | {cpu:.2f} | |")
    numbers = {
        "recall_small": pct(s["found"]["12-16"] + s["found"]["16-20"], s["total"]["12-16"] + s["total"]["16-20"]),
        "recall_20": pct(s["found"]["20-32"] + s["found"]["32-64"], s["total"]["20-32"] + s["total"]["32-64"]),
        "false10": 10 * s["false"] / s["frames"],
        "ident_gap": pct(det[1], n) - pct(det[0], n),
        "track_gain": pct(r["pooled"], t) - pct(r["frame"], c["views"]),
        "fps": fps,
    }
    return rows, numbers


def goals(x: dict) -> list[str]:
    def line(name, ok, detail):
        return f"- {name}: **{'met' if ok else 'missed'}** ({detail})"

    f1, f2 = x["fps"]["640x480"][0], x["fps"]["1280x720"][0]
    return [
        line("recall >= 95 % for faces >= 20 px", x["recall_20"] >= 95, f"{x['recall_20']:.1f} %"),
        line("recall >= 80 % for faces 12-20 px", x["recall_small"] >= 80, f"{x['recall_small']:.1f} %"),
        line("<= 1 false face per 10 frames", x["false10"] <= 1, f"{x['false10']:.2f}"),
        line(
            "detected faces within 2 points of aligned crops", x["ident_gap"] <= 2, f"gap {x['ident_gap']:+.1f} points"
        ),
        line("track-level >= frame-level + 10 points", x["track_gain"] >= 10, f"{x['track_gain']:+.1f} points"),
        line(">= 10 frames/s at 640x480", f1 >= 10, f"{f1:.2f}"),
        line(">= 3 frames/s at 1280x720", f2 >= 3, f"{f2:.2f}"),
    ]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--faces", type=Path, default=SHARED / "faces")
    p.add_argument("--photos", type=Path, default=SHARED / "photos")
    p.add_argument("--identities", type=int, default=40, help="identities in the gallery (default 40)")
    p.add_argument("--min-images", type=int, default=5)
    p.add_argument("--enrol", type=int, default=3, help="crops per identity enrolled (the rest are probes)")
    p.add_argument("--frames", type=int, default=20, help="scene frames (640x480)")
    p.add_argument("--faces-per-frame", type=int, default=8)
    p.add_argument("--clips", type=int, default=5)
    p.add_argument("--clip-frames", type=int, default=30)
    p.add_argument("--people", type=int, default=4, help="faces per clip")
    p.add_argument("--speed-frames", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--min-face", type=int, help="the scene detector's smallest face (default: --min-face's default)")
    p.add_argument("--model", help="packaged model name or ONNX file (default: the packaged default)")
    p.add_argument("--report", type=Path, help="write the markdown report here")
    args = p.parse_args(argv)
    started = time.time()
    bench = Bench(args)
    s, c = bench.scenes(), bench.clips()
    fps = {"640x480": bench.speed(480, 640), "1280x720": bench.speed(720, 1280)}
    rows, numbers = table(s, c, fps)
    torch = "torch" in sys.modules
    print("\n".join(rows))
    print(f"torch imported: {torch}; {time.time() - started:.0f} s")
    if args.report:
        from lrface.fileio import atomic_write_text

        when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        text = [
            "# Scenes and video: detection, identification and tracks on synthetic surveillance frames",
            "",
            f"Command: `python tools/bench_scenes.py {' '.join(argv or sys.argv[1:])}`",
            f"Machine: 2-core VM ({platform.processor() or platform.machine()}), shared with other jobs; {when}.",
            f"Gallery: {len(bench.gallery_sources)} identities of celeba-wild-dev ({args.enrol} aligned crops each, "
            f"packaged model {bench.rec.fingerprint[:12]}); probes: other crops of them pasted into 640x480 frames "
            f"({args.frames} frames x {args.faces_per_frame} faces) and {args.clips} clips of {args.clip_frames} "
            f"frames x {args.people} people. Scene detector: min face {bench.detector.min_face_size:g} px, upscale "
            f"x{bench.detector.upscale:g}. torch imported: {torch}. Wall time {time.time() - started:.0f} s.",
            "",
            *rows,
            "",
            "Goals (issue 22):",
            *goals(numbers),
            "",
        ]
        atomic_write_text(args.report, "\n".join(text))
    return 0


if __name__ == "__main__":
    sys.exit(main())
