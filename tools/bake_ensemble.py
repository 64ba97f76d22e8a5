"""Bake two exported students into one ONNX model whose cosine score is the mean of theirs (a score ensemble).

Both members see the same input ``image`` (they must share the preprocessing); the written ``embedding`` is
their two L2-normalised embeddings side by side, scaled by 1/sqrt(2): a unit vector whose dot product with
another is the mean of the two members' cosines. ``logits`` are the first member's. The fingerprint is new
(galleries never mix these embeddings with a member's); ``lrface.ensemble`` in the metadata names the members.
The written file is checked against the members run one by one.

    python tools/bake_ensemble.py sr18-celeba-x2hs sr18-celeba-x2 --out /tmp/duo.onnx [--faces PACKED]
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np

SHARED = ("lrface.format", "lrface.input_size", "lrface.mean", "lrface.std", "lrface.channel_order")


def bake(first: Path, second: Path, out: Path) -> None:
    """Write the score ensemble of the ONNX students ``first`` and ``second`` to ``out``."""
    import onnx
    from onnx import TensorProto, compose, helper, numpy_helper

    members = [onnx.load(str(p)) for p in (first, second)]
    metas = [{p.key: p.value for p in m.metadata_props} for m in members]
    for key in SHARED:
        if metas[0].get(key) != metas[1].get(key):
            raise SystemExit(f"{key} differs between the two members: they must share the preprocessing")
    opsets = [{o.domain: o.version for o in m.opset_import} for m in members]
    if opsets[0] != opsets[1]:
        raise SystemExit(f"the members use different opsets ({opsets[0]} vs {opsets[1]}): re-export one")
    a, b = (compose.add_prefix(m, f"{tag}_") for m, tag in zip(members, "ab", strict=True))
    dims = [int(meta["lrface.embedding_dim"]) for meta in metas]
    nodes = [
        helper.make_node("Identity", ["image"], ["a_image"]),
        helper.make_node("Identity", ["image"], ["b_image"]),
        *a.graph.node,
        *b.graph.node,
        helper.make_node("Concat", ["a_embedding", "b_embedding"], ["pair_embedding"], axis=1),
        helper.make_node("Mul", ["pair_embedding", "ensemble_scale"], ["embedding"]),
        helper.make_node("Identity", ["a_logits"], ["logits"]),
    ]
    scale = numpy_helper.from_array(np.array(1 / np.sqrt(2), np.float32), "ensemble_scale")
    size = int(metas[0]["lrface.input_size"])
    graph = helper.make_graph(
        nodes,
        "lrface-ensemble",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, size, size])],
        [
            helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", sum(dims)]),
            helper.make_tensor_value_info(
                "logits", TensorProto.FLOAT, ["batch", len(json.loads(metas[0]["lrface.class_names"]))]
            ),
        ],
        [*a.graph.initializer, *b.graph.initializer, scale],
    )
    model = helper.make_model(graph, opset_imports=members[0].opset_import, ir_version=members[0].ir_version)
    names = [meta.get("lrface.model_name", p.stem) for meta, p in zip(metas, (first, second), strict=True)]
    meta = dict(metas[0])
    meta["lrface.fingerprint"] = hashlib.sha256(
        f"ensemble:{metas[0]['lrface.fingerprint']}:{metas[1]['lrface.fingerprint']}".encode()
    ).hexdigest()
    meta["lrface.embedding_dim"] = str(sum(dims))
    meta["lrface.ensemble"] = json.dumps(
        [{"member": n, "fingerprint": m["lrface.fingerprint"]} for n, m in zip(names, metas, strict=True)]
    )
    onnx.helper.set_model_props(model, meta)
    onnx.checker.check_model(model)
    tmp = out.with_name(out.name + ".tmp")
    onnx.save(model, str(tmp))
    tmp.replace(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("first", help="packaged model name or ONNX file (its logits are kept)")
    ap.add_argument("second", help="packaged model name or ONNX file")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--faces", type=Path, help="packed set whose first 256 faces check the written file")
    args = ap.parse_args()

    from lrface.inference.embedder import Embedder
    from lrface.pretrained import resolve_model

    first, second = Path(resolve_model(args.first)), Path(resolve_model(args.second))
    bake(first, second, args.out)
    if args.faces:
        from lrface.data.packed import read_packed_set

        faces = np.asarray(next(iter(read_packed_set(args.faces).splits.values()))[0][:256])
    else:
        faces = np.random.default_rng(0).integers(0, 256, (256, 16, 16, 3), dtype=np.uint8)
    got = Embedder(args.out).embed(faces)
    want = np.hstack([Embedder(first).embed(faces), Embedder(second).embed(faces)]) / np.sqrt(2)
    err = float(np.abs(got - want).max())
    if err > 1e-5:
        raise SystemExit(f"{args.out}: baked ensemble differs from its members by {err:.2e}")
    print(f"wrote {args.out} ({args.first} + {args.second}, {got.shape[1]}-d); max |ensemble - members| {err:.1e}")


if __name__ == "__main__":
    main()
