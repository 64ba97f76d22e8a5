"""Bake test-time flip and an embedding normalisation fitted on training faces into an exported student's ONNX.

The written model embeds each image and its mirror image (one batch of 2N), averages the two embeddings and
L2-normalises (as ``lrface export --flip-average``), then applies ``y = (x - mean) @ W`` and L2-normalises again
(lrface.evaluation.whitening; W the identity for centering). Logits are the mean of the two. The fingerprint
changes (galleries never mix these embeddings with the plain model's); the metadata records the recipe.
The normalisation is fitted on the training split of the run's config (validation identities excluded), the
choice made on the open-set validation by tools/lowfar_eval.py. The written file is checked against numpy.

    python tools/bake_whitening.py --data /work/data --model sr18-celeba-ekd60 --flip [--norm center] --out /tmp/m.onnx
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np


def bake(model: Path, out: Path, mean: np.ndarray, matrix: np.ndarray, flip: bool, recipe: str) -> None:
    """Write ``model`` + (flip average) + ``(x - mean) @ matrix`` + L2 normalisation to ``out``."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    m = onnx.load(str(model))
    g = m.graph
    d, k = matrix.shape
    rename = {"embedding": "raw_embedding", "logits": "raw_logits"}
    if flip:
        rename["image"] = "image_both"
    for node in g.node:
        node.input[:] = [rename.get(n, n) if n == "image" else n for n in node.input]
        node.output[:] = [rename.get(n, n) if n in ("embedding", "logits") else n for n in node.output]
    init = [
        numpy_helper.from_array(mean.astype(np.float32), "norm_mean"),
        numpy_helper.from_array(matrix.astype(np.float32), "norm_matrix"),
    ]
    pre, nodes, emb = [], [], "raw_embedding"
    if flip:
        init += [
            numpy_helper.from_array(np.array(v, np.int64), n)
            for n, v in (("f_start", [-1]), ("f_end", [np.iinfo(np.int64).min]), ("f_axes", [3]), ("f_step", [-1]))
        ]
        init += [
            numpy_helper.from_array(np.array([2, -1, d], np.int64), "shape_emb"),
            numpy_helper.from_array(
                np.array([2, -1, g.output[1].type.tensor_type.shape.dim[1].dim_value], np.int64), "shape_logits"
            ),
            numpy_helper.from_array(np.array([0], np.int64), "axis0"),
        ]
        pre = [
            helper.make_node("Slice", ["image", "f_start", "f_end", "f_axes", "f_step"], ["image_mirror"]),
            helper.make_node("Concat", ["image", "image_mirror"], ["image_both"], axis=0),
        ]
        nodes += [
            helper.make_node("Reshape", ["raw_embedding", "shape_emb"], ["emb_pair"]),
            helper.make_node("ReduceMean", ["emb_pair", "axis0"], ["emb_mean"], keepdims=0),
            helper.make_node("LpNormalization", ["emb_mean"], ["emb_flip"], axis=1, p=2),
            helper.make_node("Reshape", ["raw_logits", "shape_logits"], ["logits_pair"]),
            helper.make_node("ReduceMean", ["logits_pair", "axis0"], ["logits"], keepdims=0),
        ]
        emb = "emb_flip"
    else:
        nodes.append(helper.make_node("Identity", ["raw_logits"], ["logits"]))
    nodes += [
        helper.make_node("Sub", [emb, "norm_mean"], ["emb_centred"]),
        helper.make_node("MatMul", ["emb_centred", "norm_matrix"], ["emb_white"]),
        helper.make_node("LpNormalization", ["emb_white"], ["embedding"], axis=1, p=2),
    ]
    body = list(g.node)
    del g.node[:]
    g.node.extend(pre + body + nodes)
    g.initializer.extend(init)
    del g.output[0]
    g.output.insert(0, helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", k]))
    meta = {p.key: p.value for p in m.metadata_props}
    digest = hashlib.sha256(mean.astype(np.float32).tobytes() + matrix.astype(np.float32).tobytes()).hexdigest()
    meta["lrface.fingerprint"] = hashlib.sha256(f"{meta['lrface.fingerprint']}:{recipe}:{digest}".encode()).hexdigest()
    meta["lrface.embedding_dim"] = str(k)
    meta["lrface.flip_average"] = "1" if flip else meta.get("lrface.flip_average", "0")
    meta["lrface.normalisation"] = recipe
    write_model(m, meta, out)


def write_model(model, meta: dict, out: Path) -> None:
    """``meta`` as the ONNX ``model``'s metadata; checked, then written to ``out`` through a temporary file."""
    import onnx

    del model.metadata_props[:]
    onnx.helper.set_model_props(model, meta)
    onnx.checker.check_model(model)
    tmp = out.with_name(out.name + ".tmp")
    onnx.save(model, str(tmp))
    tmp.replace(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="configs/face/packaged-student.yaml")
    ap.add_argument("--data", type=Path, required=True, help="folder holding celeba-wild16 and celeba-deep16")
    ap.add_argument("--model", default="sr18-celeba-ekd60")
    ap.add_argument("--flip", action="store_true", help="average each face's and its mirror image's embeddings")
    ap.add_argument(
        "--norm",
        choices=("none", "center", "white", "wccn"),
        default="none",
        help="none (flip only), mean-centering, PCA whitening, or whitening of the within-identity covariance",
    )
    ap.add_argument("--shrink", type=float, default=0.3, help="white/wccn: shrinkage towards the identity")
    ap.add_argument("--dim", type=int, help="white/wccn: keep this many leading directions")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    if args.norm == "none" and not args.flip:
        ap.error("nothing to bake: pass --flip and/or --norm center|white|wccn")

    from lrface.config import load_config
    from lrface.data.sources import load_data
    from lrface.evaluation.whitening import apply_whitening, fit_whitening
    from lrface.inference.embedder import Embedder
    from lrface.pretrained import resolve_model

    paths = [str(args.data / "celeba-wild16"), str(args.data / "celeba-deep16")]
    cfg = load_config(args.config, [f"data.path={json.dumps(paths)}"])
    bundle = load_data(cfg)
    images, labels = (np.asarray(v) for v in bundle.splits["train"])
    model = resolve_model(args.model)
    emb = Embedder(model)

    def embed(x):
        p = emb.embed(x).astype(np.float64)
        if not args.flip:
            return p
        m = p + emb.embed(np.ascontiguousarray(x[:, :, ::-1]))
        return m / np.linalg.norm(m, axis=1, keepdims=True)

    tr = embed(images) if args.norm != "none" else np.zeros((1, emb.dim))
    if args.norm in ("none", "center"):
        w, recipe = fit_whitening(tr, whiten=False), args.norm
    else:
        w = fit_whitening(tr, shrink=args.shrink, dim=args.dim, labels=labels if args.norm == "wccn" else None)
        recipe = f"{args.norm}-s{args.shrink:g}" + (f"-d{args.dim}" if args.dim else "")
    if args.norm != "none":
        recipe = f"train-{recipe} fitted on {len(tr)} training faces ({args.config})"
    recipe = "flip" if args.norm == "none" else ("flip+" if args.flip else "") + recipe
    bake(model, args.out, w.mean, w.matrix, args.flip, recipe)
    val = np.asarray(bundle.splits["val_open"][0])[:256]
    got, want = Embedder(args.out).embed(val), apply_whitening(embed(val), w)
    err = float(np.abs(got - want).max())
    if err > 1e-4:
        raise SystemExit(f"{args.out}: baked model differs from numpy by {err:.2e}")
    print(f"wrote {args.out} ({recipe}); max |onnx - numpy| on 256 validation faces {err:.1e}")


if __name__ == "__main__":
    main()
