"""Bake exported students into one ONNX model whose cosine score is the mean of theirs (a score ensemble).

The N members see the same input ``image`` (they must share the preprocessing); the written ``embedding`` is
their L2-normalised embeddings side by side, scaled by 1/sqrt(N): a unit vector whose dot product with
another is the mean of the members' cosines. ``logits`` are the first member's. The fingerprint is new
(galleries never mix these embeddings with a member's); ``lrface.ensemble`` in the metadata names the members
with their fingerprints, versions, epochs and flip; those keys stay at the top only where all members agree.
The written file is checked against the members run one by one.

    python tools/bake_ensemble.py sr18-celeba-x2hs sr18-celeba-x2 [MORE ...] --out /tmp/duo.onnx [--faces PACKED]
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np
from bake_whitening import write_model

SHARED = ("lrface.format", "lrface.input_size", "lrface.mean", "lrface.std", "lrface.channel_order")
PER_MEMBER = ("lrface.version", "lrface.arch", "lrface.epoch", "lrface.quantization", "lrface.flip_average")


def bake(paths: list[Path], out: Path) -> None:
    """Write the score ensemble of the ONNX students ``paths`` (two or more) to ``out``."""
    import onnx
    from onnx import TensorProto, compose, helper, numpy_helper

    members = [onnx.load(str(p)) for p in paths]
    metas = [{p.key: p.value for p in m.metadata_props} for m in members]
    opsets = [{o.domain: o.version for o in m.opset_import} for m in members]
    for k in range(1, len(members)):
        for key in SHARED:
            if metas[0].get(key) != metas[k].get(key):
                raise SystemExit(
                    f"{key} differs between {paths[0]} and {paths[k]}: members must share the preprocessing"
                )
        if opsets[k] != opsets[0]:
            raise SystemExit(f"{paths[k]} uses other opsets than {paths[0]} ({opsets[k]} vs {opsets[0]}): re-export")
    tags = [f"m{k}_" for k in range(len(members))]
    prefixed = [compose.add_prefix(m, t) for m, t in zip(members, tags, strict=True)]
    dims = [int(meta["lrface.embedding_dim"]) for meta in metas]
    nodes = [helper.make_node("Identity", ["image"], [f"{t}image"]) for t in tags]
    for m in prefixed:
        nodes += m.graph.node
    nodes += [
        helper.make_node("Concat", [f"{t}embedding" for t in tags], ["joint_embedding"], axis=1),
        helper.make_node("Mul", ["joint_embedding", "ensemble_scale"], ["embedding"]),
        helper.make_node("Identity", [f"{tags[0]}logits"], ["logits"]),
    ]
    scale = numpy_helper.from_array(np.array(1 / np.sqrt(len(members)), np.float32), "ensemble_scale")
    size, classes = int(metas[0]["lrface.input_size"]), len(json.loads(metas[0]["lrface.class_names"]))
    graph = helper.make_graph(
        nodes,
        "lrface-ensemble",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, size, size])],
        [
            helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", sum(dims)]),
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", classes]),
        ],
        [init for m in prefixed for init in m.graph.initializer] + [scale],
    )
    model = helper.make_model(graph, opset_imports=members[0].opset_import, ir_version=members[0].ir_version)
    meta = dict(metas[0])
    for key in PER_MEMBER:  # kept at the top only where every member agrees; each member's is in lrface.ensemble
        if any(m.get(key) != metas[0].get(key) for m in metas):
            meta.pop(key, None)
    prints = ":".join(m["lrface.fingerprint"] for m in metas)
    meta["lrface.fingerprint"] = hashlib.sha256(f"ensemble:{prints}".encode()).hexdigest()
    meta["lrface.embedding_dim"] = str(sum(dims))
    meta["lrface.ensemble"] = json.dumps(
        [
            {"member": p.stem, "fingerprint": m["lrface.fingerprint"]} | {k: m[k] for k in PER_MEMBER if k in m}
            for p, m in zip(paths, metas, strict=True)
        ]
    )
    write_model(model, meta, out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "models", nargs="+", help="two or more packaged model names or ONNX files (the first's logits are kept)"
    )
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--faces", type=Path, help="packed set whose first 256 faces check the written file")
    args = ap.parse_args()
    if len(args.models) < 2:
        ap.error("pass two or more models")

    from lrface.inference.embedder import Embedder
    from lrface.pretrained import resolve_model

    paths = [Path(resolve_model(m)) for m in args.models]
    bake(paths, args.out)
    if args.faces:
        from lrface.data.packed import read_packed_set

        faces = np.asarray(next(iter(read_packed_set(args.faces).splits.values()))[0][:256])
    else:
        faces = np.random.default_rng(0).integers(0, 256, (256, 16, 16, 3), dtype=np.uint8)
    got = Embedder(args.out).embed(faces)
    want = np.hstack([Embedder(p).embed(faces) for p in paths]) / np.sqrt(len(paths))
    err = float(np.abs(got - want).max())
    if err > 1e-5:
        raise SystemExit(f"{args.out}: baked ensemble differs from its members by {err:.2e}")
    print(f"wrote {args.out} ({' + '.join(args.models)}, {got.shape[1]}-d); max |ensemble - members| {err:.1e}")


if __name__ == "__main__":
    main()
