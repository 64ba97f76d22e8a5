"""How far LFW-16's TAR at low FAR can be trusted: bootstrap intervals per model and paired differences.

LFW View 2 has 3,000 different-person pairs, so TAR at FAR 1e-3 is set by the three highest-scoring of them;
one impostor more or less moves it by points. Each resample draws the 3,000 genuine and the 3,000 impostor
pairs with replacement (the same draw for every model: paired), recomputes the threshold admitting at most
floor(FAR x impostors) and the TAR there. Prints each model's TAR with its 95 % percentile interval and each
model's difference from the first with its interval. The test set: read it after the choices.

    python tools/lfw_bootstrap.py PAIRS IMAGES MODEL [MODEL ...] [--fars 1e-2 1e-3] [--resamples 2000]
"""

from __future__ import annotations

import argparse

import numpy as np


def tar_at_far(genuine: np.ndarray, impostor: np.ndarray, far: float) -> np.ndarray:
    """TAR at FAR for each row (a resample) of genuine and impostor scores, by lrface's own threshold rule
    (``threshold_at_far``: at most floor(far x impostors) impostors accepted) and acceptance (``accepts``)."""
    from lrface.inference.threshold import accepts, threshold_at_far

    threshold = np.array([threshold_at_far(row, far) for row in impostor])
    return accepts(genuine, threshold[:, None]).mean(1)


def paired_tars(scores: np.ndarray, same: np.ndarray, far: float, resamples: int) -> tuple[np.ndarray, np.ndarray]:
    """TAR at FAR of each row of ``scores`` (one per model) on all pairs, and on each of ``resamples`` draws of the
    genuine and of the impostor pairs with replacement (numpy default_rng(0); the same draws for every row)."""
    rng = np.random.default_rng(0)
    gi, ii = np.flatnonzero(same), np.flatnonzero(~same)
    g_draw = rng.choice(gi, (resamples, len(gi)))
    i_draw = rng.choice(ii, (resamples, len(ii)))
    point = np.array([tar_at_far(s[gi][None], s[ii][None], far)[0] for s in scores])
    return point, np.array([tar_at_far(s[g_draw], s[i_draw], far) for s in scores])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("pairs")
    ap.add_argument("images")
    ap.add_argument("models", nargs="+", help="packaged model names or ONNX files; differences are to the first")
    ap.add_argument("--fars", nargs="+", type=float, default=[1e-2, 1e-3])
    ap.add_argument("--resamples", type=int, default=2000)
    args = ap.parse_args()

    from lrface.evaluation.evaluate import evaluate_pairs
    from lrface.pretrained import resolve_model

    scores = []
    for m in args.models:
        _, s, same = evaluate_pairs(args.pairs, args.images, resolve_model(m), warn=lambda *_: None)
        scores.append(s)
    scores, same = np.array(scores), np.asarray(same, bool)
    print(
        f"LFW-16, {same.sum()} genuine + {(~same).sum()} impostor pairs, {args.resamples} paired resamples, 95 % intervals"
    )
    print("| model | FAR | TAR % | interval | minus the first | interval |")
    print("|---|---:|---:|---|---:|---|")
    for far in args.fars:
        point, boot = paired_tars(scores, same, far, args.resamples)
        for m, p, b in zip(args.models, point, boot, strict=True):
            lo, hi = np.percentile(100 * b, [2.5, 97.5])
            d = 100 * (b - boot[0])
            dlo, dhi = np.percentile(d, [2.5, 97.5])
            diff = f"{100 * (p - point[0]):+.2f} | [{dlo:+.2f}, {dhi:+.2f}]" if m != args.models[0] else "- | -"
            print(f"| {m} | {far:g} | {100 * p:.2f} | [{lo:.2f}, {hi:.2f}] | {diff} |")


if __name__ == "__main__":
    main()
