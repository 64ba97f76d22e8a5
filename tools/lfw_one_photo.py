"""The new-user check on LFW's raw photos: one photo of each person enrolled, another photo named.

Issue 21's "tried as a new user would" check, on people a user brings: for every person with two or more of
the images that LFW's ``pairs.txt`` names, the lowest-numbered photo is enrolled and the next one is the
probe, both detected and aligned by lrface's MTCNN path (cached, as ``lrface evaluate --pairs``). Printed per
model: top-1 among 20 people (the mean over ``--draws`` random draws of 20, seed 0, and its spread) and among
all of them. LFW is the test set: run this after a model is chosen, never to choose one.

    python tools/lfw_one_photo.py MODEL [MODEL ...] [--pairs ../shared/data/lfw/pairs.txt]
        [--images ../shared/data/lfw/lfw-deepfunneled] [--draws 1000]
"""

from __future__ import annotations

import argparse
from collections import defaultdict

import numpy as np


def top1_rates(scores: np.ndarray, draws: list[np.ndarray]) -> tuple[list[float], float]:
    """Top-1 of probe i (row) naming enrolled person i (column): per draw among its people, and among all."""
    per_draw = [float(np.mean(scores[np.ix_(d, d)].argmax(1) == np.arange(len(d)))) for d in draws]
    return per_draw, float(np.mean(scores.argmax(1) == np.arange(len(scores))))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+", help="packaged model names or ONNX files")
    ap.add_argument("--pairs", default="../shared/data/lfw/pairs.txt")
    ap.add_argument("--images", default="../shared/data/lfw/lfw-deepfunneled")
    ap.add_argument("--draws", type=int, default=1000)
    args = ap.parse_args()

    from lrface.evaluation.pair_align import aligned_pair_images
    from lrface.evaluation.verification import parse_pairs
    from lrface.inference.embedder import Embedder
    from lrface.pretrained import resolve_model

    pairs = parse_pairs(args.pairs)
    photos = defaultdict(list)
    for key in pairs.keys:  # "<Name>/<Name>_NNNN.jpg"
        photos[key.split("/")[0]].append(key)
    people = sorted(n for n, keys in photos.items() if len(keys) >= 2)
    enrolled = [sorted(photos[n])[0] for n in people]
    probes = [sorted(photos[n])[1] for n in people]
    rng = np.random.default_rng(0)
    draws = [rng.choice(len(people), 20, replace=False) for _ in range(args.draws)]
    print(f"{len(people)} people with two photos or more; {args.draws} draws of 20")
    print("| model | top-1 among 20 (sd over draws) | top-1 among all |")
    print("|---|---:|---:|")
    for model in args.models:
        embedder = Embedder(resolve_model(model))
        images, _ = aligned_pair_images(pairs, args.images, embedder.spec.size, lambda *_: None)  # cached per size
        scores = embedder.embed([images[k] for k in probes]) @ embedder.embed([images[k] for k in enrolled]).T
        twenty, everyone = top1_rates(scores, draws)
        print(f"| {model} | {100 * np.mean(twenty):.2f} % ({100 * np.std(twenty):.1f}) | {100 * everyone:.2f} % |")


if __name__ == "__main__":
    main()
