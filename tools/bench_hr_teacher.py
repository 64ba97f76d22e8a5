"""The HR teacher (dlib's ResNet face descriptor) as a benchmark row: what a user would pick instead of lrface.

dlib is given the same 16x16 faces the students see, upscaled (bicubic) to the 112 px template crop;
its shape predictor and face chip then run as at full resolution. Rows:

- identification on a packed set (celeba-wild-dev by default): the split of the face benchmark
  (per identity, ``--test-fraction`` 0.2, seed 5); train split enrolled as mean templates, test split
  as probes, top-1 and top-5 (as `lrface evaluate --packed`); plus the stored full-resolution
  descriptors (``prepare --hr-teacher``) on the same split where the set has them;
- LFW at 16x16 (``--pairs``/``--images``): the verification protocol of `lrface evaluate --pairs`
  (same alignment cache, 10 folds, thresholds chosen on the other nine).

    python tools/bench_hr_teacher.py --packed /work/data/celeba-wild16 \
        --pairs ../shared/data/lfw/pairs.txt --images ../shared/data/lfw/lfw-deepfunneled --json out.json
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lrface.fileio import atomic_write_json  # noqa: E402
from lrface.prep.hr_teacher import TEMPLATE_RECT, build_teacher  # noqa: E402

UPSCALED = 112


def describe_low_res(teacher, images: np.ndarray) -> tuple[np.ndarray, float]:
    """dlib descriptors of N x s x s x 3 template-aligned faces upscaled to 112 px; (N x 128, faces/s)."""
    rect = tuple(v * UPSCALED for v in TEMPLATE_RECT)
    out = np.zeros((len(images), teacher.dim), np.float32)
    t0 = time.perf_counter()
    for i, im in enumerate(images):
        big = cv2.resize(np.ascontiguousarray(im), (UPSCALED, UPSCALED), interpolation=cv2.INTER_CUBIC)
        out[i] = teacher.describe(big, rect)
    return out, len(images) / max(time.perf_counter() - t0, 1e-9)


def identification(g_emb, g_labels, p_emb, p_labels) -> dict:
    """Top-1/top-5 of probes against per-identity mean templates (L2-normalised), in percent."""
    ids = np.unique(g_labels)
    templates = np.stack([g_emb[g_labels == i].mean(0) for i in ids])
    templates /= np.linalg.norm(templates, axis=1, keepdims=True)
    ranked = ids[np.argsort(-(p_emb @ templates.T), axis=1)]
    return {
        "top1": 100 * float((ranked[:, 0] == p_labels).mean()),
        "top5": 100 * float((ranked[:, :5] == p_labels[:, None]).any(1).mean()),
        "gallery_identities": len(ids),
        "probes": len(p_labels),
    }


def packed_rows(teacher, packed: str, test_fraction: float, seed: int) -> list[dict]:
    from lrface.config import load_config
    from lrface.data.sources import load_data

    cfg = load_config(None, [f"data.path={packed}", f"data.test_fraction={test_fraction}", f"train.seed={seed}"])
    bundle = load_data(cfg)
    (g_im, g_lb), (p_im, p_lb) = bundle.splits["train"], bundle.splits["test"]
    g_lb, p_lb = np.asarray(g_lb), np.asarray(p_lb)
    where = f"{Path(packed).name} identification (train {len(g_lb)} enrolled / test {len(p_lb)} probes)"
    g, rate = describe_low_res(teacher, g_im)
    p, _ = describe_low_res(teacher, p_im)
    rows = [
        {
            "model": f"{teacher.name} on 16x16 upscaled",
            "task": where,
            **identification(g, g_lb, p, p_lb),
            "faces_per_s": round(rate, 1),
        }
    ]
    g_hr, g_found = bundle.hr.lookup(g_im)
    p_hr, p_found = bundle.hr.lookup(p_im)
    if g_found.all() and p_found.all():
        rows.append(
            {
                "model": f"{teacher.name} at full resolution (stored)",
                "task": where,
                **identification(g_hr, g_lb, p_hr, p_lb),
            }
        )
    return rows


def lfw_row(teacher, pairs: str, images_dir: str) -> dict:
    from lrface.evaluation.pair_align import aligned_pair_images
    from lrface.evaluation.verification import metrics_from_embeddings, parse_pairs

    pairs_file = parse_pairs(pairs)
    by_key, counts = aligned_pair_images(pairs_file, images_dir, 16, log=lambda m: print(m, file=sys.stderr))
    keys = pairs_file.keys
    emb, rate = describe_low_res(teacher, np.stack([by_key[k] for k in keys]))
    result, _ = metrics_from_embeddings(pairs_file, dict(zip(keys, emb)))
    return {
        "model": f"{teacher.name} on 16x16 upscaled",
        "task": f"LFW-16 verification ({len(pairs_file.pairs)} pairs, {pairs_file.n_folds} folds)",
        "alignment": counts,
        "faces_per_s": round(rate, 1),
        **result,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--packed", help="packed set for identification (e.g. celeba-wild16)")
    ap.add_argument("--test-fraction", type=float, default=0.2)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--pairs", help="LFW pairs.txt")
    ap.add_argument("--images", help="LFW image folder (lfw-deepfunneled)")
    ap.add_argument("--json", help="also write the rows here")
    args = ap.parse_args(argv)
    cv2.setNumThreads(1)
    teacher = build_teacher("dlib")
    rows = packed_rows(teacher, args.packed, args.test_fraction, args.seed) if args.packed else []
    if args.pairs:
        rows.append(lfw_row(teacher, args.pairs, args.images))
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(f"HR teacher rows, {when}, {platform.machine()} {platform.processor() or ''}".strip())
    print("| model | task | top-1 / accuracy | top-5 / TAR@FAR=1e-3 | faces/s |\n|---|---|---:|---:|---:|")
    for r in rows:
        if "top1" in r:
            a, b = f"{r['top1']:.2f}", f"{r['top5']:.2f}"
        else:
            a = f"{100 * r['accuracy']:.2f} ± {100 * r['accuracy_std']:.2f}"
            b = next((f"{100 * t['tar']:.2f}" for t in r["tar_at_far"] if t.get("far") == 1e-3), "-")
        print(f"| {r['model']} | {r['task']} | {a} | {b} | {r.get('faces_per_s', '-')} |")
    if args.json:
        atomic_write_json(args.json, {"date": when, "machine": platform.platform(), "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
