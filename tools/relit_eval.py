"""Identification under synthetic strong side lighting, on a training run's held-out identities; and ORL.

Issue 21 item 4 (lighting). The validation is the open-set split of a training run (``val_open``: the identities
its ``data.val_identities`` held out of training, loaded from RUN/config.yaml exactly as the trainer did). Per
identity with two faces or more, in the split's order: the first half (rounded up) is the gallery, enrolled
unlit as one mean template (L2-normalised); the other half are probes. Each probe is scored twice: unlit, and
relit; closed-set top-1 identification (%) among all the split's identities is reported for both, so the drop
is visible. The raw-pixel baseline (flattened 16x16 grey pixels, L2-normalised) runs the same protocol.

Relighting (``relight``; deterministic: probe i uses numpy's default_rng([seed, i])). A strong side light,
a different family from the training augmentation's linear ramp (data/lighting.py), applied at the native
16x16 after alignment: along a horizontal axis tilted by t in [-20, 20] degrees, the face is multiplied by a
smooth (logistic) falloff from the lit side (x 1.0..1.25, clipped at 255) to the shadow side, which keeps
d in [0.15, 0.35] of its intensity; the transition sits at the midline +-0.1 of the width with a softness of
0.06..0.15 of the width, the shadowed side drawn left or right with probability 1/2; then a gamma
g in [1.2, 1.6] (255 (x/255)^g: darker mid-tones, harsh light). Colour is kept.

ORL (``--orl``, a packed set from ``lrface prepare folder ../shared/data/orl --out ../data/orl16``): 40 people
x 10 grey faces; each person's first 5 faces (by file name) are enrolled as a mean template and the other
5 are probes: "names N of 200". Skipped with a message when absent.

    python tools/relit_eval.py RUN [--models A.onnx sr18-celeba-ekd60 ...] [--orl ../data/orl16] [--json F]
        [--preview relit.png]

``--json`` keeps every number and, per probe, whether it was named (1) or not (0), relit and unlit, so two
models can be compared paired (McNemar). ``--models`` takes ONNX files, packaged model names, or LABEL=MODEL; a bare ONNX under RUN/export is
labelled with its run's directory name. With no ``--models``: RUN/export/student.onnx.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

DEFAULT_ORL = Path(__file__).resolve().parents[1] / ".." / "data" / "orl16"


def relight(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One uint8 H x W x 3 face under a strong side light (module docstring)."""
    h, w = image.shape[:2]
    tilt = np.deg2rad(rng.uniform(-20, 20))
    dark = rng.uniform(0.15, 0.35)
    lit = rng.uniform(1.0, 1.25)
    centre = rng.uniform(-0.1, 0.1)
    soft = rng.uniform(0.06, 0.15)
    side = 1.0 if rng.random() < 0.5 else -1.0  # +1: the shadow on the right
    gam = rng.uniform(1.2, 1.6)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    u = ((x + 0.5) / w - 0.5) * np.cos(tilt) + ((y + 0.5) / h - 0.5) * np.sin(tilt)
    shadow = 1.0 / (1.0 + np.exp(-side * (u - centre) / soft))  # 0 on the lit side, 1 in the shadow
    factor = lit + (dark - lit) * shadow
    out = np.clip(image.astype(np.float64) * factor[..., None], 0, 255)
    return np.clip(np.rint(255 * (out / 255) ** gam), 0, 255).astype(np.uint8)


def relight_all(images: np.ndarray, seed: int) -> np.ndarray:
    return np.stack([relight(im, np.random.default_rng([seed, i])) for i, im in enumerate(images)])


def split_half(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(gallery, probe) indices: per label with >= 2 items, the first ceil(n/2) in order, then the rest."""
    gal, probe = [], []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        if len(idx) < 2:
            continue
        k = (len(idx) + 1) // 2
        gal += list(idx[:k])
        probe += list(idx[k:])
    return np.array(gal, int), np.array(probe, int)


def l2n(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def named(gal_emb: np.ndarray, gal_lab: np.ndarray, probe_emb: np.ndarray, probe_lab: np.ndarray) -> np.ndarray:
    """Per probe: is the nearest mean template (L2-normalised, of the gallery's labels) its own identity's."""
    classes = np.unique(gal_lab)
    templates = l2n(np.stack([gal_emb[gal_lab == c].mean(0) for c in classes]))
    return classes[np.argmax(l2n(probe_emb) @ templates.T, axis=1)] == probe_lab


def top1(gal_emb: np.ndarray, gal_lab: np.ndarray, probe_emb: np.ndarray, probe_lab: np.ndarray) -> float:
    """Closed-set top-1 (%) against mean templates."""
    return float(100 * np.mean(named(gal_emb, gal_lab, probe_emb, probe_lab)))


def raw_pixels(images: np.ndarray) -> np.ndarray:
    """Flattened grey pixels (mean of R, G, B), L2-normalised."""
    from lrface.preprocess import resize_uint8

    grey = np.stack([resize_uint8(np.asarray(im), 16) for im in images]).astype(np.float32).mean(-1)
    return l2n(grey.reshape(len(images), -1))


def orl_set(root: Path):
    """(images, labels, first-five mask) of a packed ORL set, faces ordered by file name within each person."""
    from lrface.data.packed import read_packed_set

    ps = read_packed_set(root)
    images, labels = (np.asarray(x) for x in ps.splits["all"])
    import csv

    with open(root / "items.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["split"] == "all"]
    src = {int(r["index"]): r["source"] for r in rows}
    enrol = np.zeros(len(labels), bool)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        order = sorted(idx, key=lambda i: src.get(int(i), str(i)))
        enrol[order[:5]] = True
    return images, labels, enrol


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path, help="training run directory (config.yaml with data.val_identities)")
    ap.add_argument("--models", nargs="*", default=[], help="ONNX files, packaged model names or LABEL=MODEL")
    ap.add_argument("--orl", type=Path, default=DEFAULT_ORL, help="packed ORL set (default ../data/orl16)")
    ap.add_argument("--seed", type=int, default=0, help="relighting seed (default 0)")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--preview", type=Path, help="PNG: a row of probes unlit over the same probes relit")
    args = ap.parse_args()

    from lrface.data.sources import run_validation
    from lrface.inference.embedder import Embedder
    from lrface.pretrained import resolve_model

    _, images, labels = run_validation(args.run)
    gal, probe = split_half(labels)
    relit = relight_all(images[probe], args.seed)
    print(
        f"relit validation: {args.run} val_open, {len(np.unique(labels[gal]))} identities, {len(gal)} gallery "
        f"faces (unlit, mean templates), {len(probe)} probes (relit, seed {args.seed})",
        flush=True,
    )
    if args.preview:
        import cv2

        k = min(16, len(probe))
        grid = np.concatenate([np.concatenate(list(images[probe[:k]]), 1), np.concatenate(list(relit[:k]), 1)], 0)
        grid = cv2.resize(grid, None, fx=4, fy=4, interpolation=cv2.INTER_NEAREST)
        cv2.imwrite(str(args.preview), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))

    orl = orl_set(args.orl) if (args.orl / "manifest.json").is_file() else None
    if orl is None:
        print(f"ORL: {args.orl} not found; skipped (lrface prepare folder ../shared/data/orl --out {args.orl})")

    models = []
    for m in args.models or [str(args.run / "export" / "student.onnx")]:
        label, _, spec = m.rpartition("=")
        path = Path(resolve_model(spec))
        if not label:
            label = path.parent.parent.name if path.parent.name == "export" else spec
        models.append((label, path))

    def scores(embed) -> dict:
        e_gal = embed(images[gal])
        hits = {
            k: named(e_gal, labels[gal], embed(x), labels[probe])
            for k, x in (("relit", relit), ("unlit", images[probe]))
        }
        rec = {f"{k}_top1": float(100 * v.mean()) for k, v in hits.items()}
        rec |= {f"{k}_named": v.astype(int).tolist() for k, v in hits.items()}  # per probe, for paired tests
        if orl is not None:
            o_im, o_lab, enrol = orl
            e = embed(o_im)
            t = top1(e[enrol], o_lab[enrol], e[~enrol], o_lab[~enrol])
            rec["orl_named"], rec["orl_probes"] = int(round(t * (~enrol).sum() / 100)), int((~enrol).sum())
        return rec

    out = []
    print("\n| model | relit top-1 % | unlit top-1 % | drop (points) | ORL named |")
    print("|---|---:|---:|---:|---:|")
    embedders = [(label, Embedder(p, threads=1)) for label, p in models]
    rows = [(label, lambda x, e=e: e.embed(list(x))) for label, e in embedders]
    rows.append(("raw pixels (16x16 grey)", raw_pixels))
    for label, embed in rows:
        rec = {"model": label, **scores(embed)}
        out.append(rec)
        orl_cell = f"{rec['orl_named']} / {rec['orl_probes']}" if "orl_named" in rec else "-"
        drop = rec["unlit_top1"] - rec["relit_top1"]
        print(f"| {label} | {rec['relit_top1']:.2f} | {rec['unlit_top1']:.2f} | {drop:.2f} | {orl_cell} |", flush=True)
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
