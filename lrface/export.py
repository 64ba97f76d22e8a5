"""The torch side of `lrface export --onnx`: student -> ONNX, verified against onnxruntime, written atomically.

The exported graph is the student backbone and classifier only; outputs ``embedding``
(L2-normalised feature) and ``logits``; input ``image`` float32 N x 3 x S x S with a dynamic batch.
With ``flip_average`` the graph embeds each image and its mirror image and outputs the normalised
mean of the two features (and the mean of the two logits): the usual test-time flip of face
verification, inside the model so that every embedder and gallery gets it, at twice the compute.
"""

from __future__ import annotations

import hashlib
import io
import json
import warnings
from pathlib import Path

import numpy as np
import torch

from . import __version__
from .errors import UserError
from .fileio import atomic_path
from .preprocess import PreprocessSpec, preprocess

TOLERANCE = 1e-4  # on max |onnxruntime - torch| / (1 + the row's max |torch|), see scaled_diff
OPSET = 18


class _Serving(torch.nn.Module):
    """Backbone -> (L2-normalised embedding, logits); with ``flip_average`` of the image and its mirror."""

    def __init__(self, backbone: torch.nn.Module, flip_average: bool = False):
        super().__init__()
        self.backbone = backbone
        self.flip_average = flip_average

    def forward(self, image):
        logits, feature = self.backbone(image)
        if self.flip_average:
            m_logits, m_feature = self.backbone(torch.flip(image, dims=[3]))
            feature = torch.nn.functional.normalize(feature, dim=1) + torch.nn.functional.normalize(m_feature, dim=1)
            logits = (logits + m_logits) / 2
        return torch.nn.functional.normalize(feature, dim=1), logits


def weights_fingerprint(model: torch.nn.Module) -> str:
    """sha256 over parameter and buffer names, shapes, dtypes and bytes (in name order)."""
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        t = t.detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)};".encode())
        h.update(t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.float().numpy().tobytes())
    return h.hexdigest()


def _real_inputs(cfg: dict, spec: PreprocessSpec, limit: int = 256) -> tuple[np.ndarray | None, str]:
    """Preprocessed images from the run's data (packed set or identity folder), or None and why not."""
    data = cfg.get("data") or {}
    path = data.get("path") if isinstance(data, dict) else None
    if not path:
        return None, "the run config names no data.path"
    path = Path(path[0] if isinstance(path, list) else path)
    if not path.exists():
        return None, f"data path {path} is not reachable from here"
    from .data.packed import is_packed_set, read_packed_set

    if is_packed_set(path):
        ps = read_packed_set(path)
        split = "test" if "test" in ps.splits else next(iter(ps.splits))
        images = np.asarray(ps.splits[split][0][:limit])
        return preprocess(images, spec), f"{len(images)} images of {path} split {split}"
    from .imageio import BadImage, read_image
    from .inference.folders import scan_identity_folder
    from .preprocess import resize_uint8

    try:
        files = [f for _, fs in scan_identity_folder(path).items() for f in fs][:limit]
    except UserError:
        return None, f"{path} is neither a packed set nor an identity folder"
    images = []
    for f in files:
        try:
            images.append(resize_uint8(read_image(f), spec.size))
        except BadImage:
            continue
    if not images:
        return None, f"no readable images under {path}"
    return preprocess(np.stack(images), spec), f"{len(images)} images of {path}"


def scaled_diff(got: np.ndarray, want: np.ndarray) -> float:
    """max |got - want| / (1 + the row's largest |want|): absolute for rows of small values, relative for rows of
    large ones. Float32 rounding grows with the size of the sums, so a logit near 0 among logits of thousands
    carries their rounding (a barely trained run's logit of 0.3 beside ones of 40,000 differed by 0.002)."""
    got, want = np.atleast_2d(got), np.atleast_2d(want)
    scale = 1.0 + np.abs(want).max(axis=-1, keepdims=True)
    return float((np.abs(got - want) / scale).max())


def _max_diff(session, model: torch.nn.Module, x: np.ndarray) -> float:
    emb, logits = session.run(["embedding", "logits"], {"image": x})
    with torch.no_grad():
        t_emb, t_logits = model(torch.from_numpy(x))
    return max(scaled_diff(emb, t_emb.numpy()), scaled_diff(logits, t_logits.numpy()))


def export_onnx(
    run: str | Path,
    out: str | Path | None = None,
    quantize: str | None = None,
    flip_average: bool = False,
    ema: bool | None = None,
    log=print,
) -> Path:
    """Export the run's student to ONNX at ``out`` (default RUN/export/student.onnx) and verify it. ``ema``: the
    weight average (True) or the weights (False); None = the stream that picked best.pt (train.select_on)."""
    import onnx
    import onnxruntime as ort

    from .engine.checkpoint import load_student

    backbone, meta = load_student(run, ema=ema)
    run = Path(run)
    ema = bool(meta["ema_decay"])
    other = "" if meta["selected"] else ".ema" if ema else ".raw"  # the file name says when it is not the chosen one
    out = (
        Path(out)
        if out
        else (run if run.is_dir() else run.parent.parent)
        / "export"
        / f"student{other}{'.flip' if flip_average else ''}{'.int8' if quantize else ''}.onnx"
    )
    spec = PreprocessSpec.from_dict(meta["preprocess"])
    model = _Serving(backbone, flip_average).eval()
    fingerprint = weights_fingerprint(backbone)
    if flip_average:  # other embeddings than the plain export's: galleries must not mix them
        fingerprint = hashlib.sha256((fingerprint + ":flip-average").encode()).hexdigest()
    example = torch.zeros(2, 3, spec.size, spec.size)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        # The TorchScript exporter: 10x faster than dynamo=True here and verified below with a
        # dynamic batch (both exporters give identical graphs for these ResNets).
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (example,),
            buf,
            dynamo=False,
            opset_version=OPSET,
            input_names=["image"],
            output_names=["embedding", "logits"],
            dynamic_axes={n: {0: "batch"} for n in ("image", "embedding", "logits")},
        )
    proto = onnx.load_from_string(buf.getvalue())
    props = {
        "lrface.format": "lrface-onnx/1",
        "lrface.version": __version__,
        "lrface.fingerprint": fingerprint,
        "lrface.arch": meta["arch"],
        "lrface.input_size": str(spec.size),
        "lrface.mean": json.dumps(list(spec.mean)),
        "lrface.std": json.dumps(list(spec.std)),
        "lrface.channel_order": spec.channel_order,
        "lrface.embedding_dim": str(meta["embedding_dim"]),
        "lrface.class_names": json.dumps(meta["class_names"], ensure_ascii=False),
        "lrface.epoch": str(meta["epoch"]),
        "lrface.quantization": "none",
        "lrface.flip_average": "1" if flip_average else "0",
        "lrface.ema_decay": f"{meta['ema_decay']:g}",
    }
    onnx.helper.set_model_props(proto, props)
    data = proto.SerializeToString()

    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    diffs = {
        f"random batch {n}": _max_diff(
            session, model, rng.standard_normal((n, 3, spec.size, spec.size)).astype(np.float32)
        )
        for n in (1, 7)
    }
    real, note = _real_inputs(meta["config"], spec)
    if real is not None:
        diffs[f"real ({note})"] = _max_diff(session, model, real)
    else:
        log(f"verification: skipped real inputs ({note})")
    for what, d in diffs.items():
        log(f"verification: {what}: max |onnxruntime - torch| / (1 + row max |torch|) = {d:.3g}")
    worst = max(diffs.values())
    if not worst <= TOLERANCE:
        raise UserError(
            f"exported model disagrees with torch by {worst:.3g} (scaled difference > {TOLERANCE}); nothing written. "
            "Report this with the run directory"
        )

    if quantize:
        data = _quantize_int8(
            data,
            session,
            real if real is not None else rng.standard_normal((64, 3, spec.size, spec.size)).astype(np.float32),
            log,
        )
    with atomic_path(out) as tmp:
        tmp.write_bytes(data)
    log(
        f"wrote {out} ({len(data) / 1e6:.2f} MB, {meta['arch']}, {meta['embedding_dim']}-d embedding, "
        f"{meta['num_classes']} classes, fingerprint {props['lrface.fingerprint'][:12]}"
        f"{', weight average' if ema else ''}{', flip-averaged' if flip_average else ''}{', int8' if quantize else ''})"
    )
    return out


def _quantize_int8(data: bytes, fp32_session, x: np.ndarray, log) -> bytes:
    """Dynamic int8 quantization; its fingerprint differs from fp32; reports top-1 agreement."""
    import logging
    import tempfile

    import onnx
    import onnxruntime as ort
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory() as d:
        src, dst = Path(d) / "fp32.onnx", Path(d) / "int8.onnx"
        src.write_bytes(data)
        logging.disable(logging.WARNING)  # its advice to pre-process is not actionable here
        try:
            quantize_dynamic(src, dst, weight_type=QuantType.QInt8)
        finally:
            logging.disable(logging.NOTSET)
        proto = onnx.load(dst)
    props = {p.key: p.value for p in proto.metadata_props}
    props["lrface.quantization"] = "int8-dynamic"
    props["lrface.fingerprint"] = hashlib.sha256((props["lrface.fingerprint"] + ":int8-dynamic").encode()).hexdigest()
    del proto.metadata_props[:]
    onnx.helper.set_model_props(proto, props)
    q_data = proto.SerializeToString()
    q_session = ort.InferenceSession(q_data, providers=["CPUExecutionProvider"])
    f_emb, f_logits = fp32_session.run(["embedding", "logits"], {"image": x})
    q_emb, q_logits = q_session.run(["embedding", "logits"], {"image": x})
    agree = float((f_logits.argmax(1) == q_logits.argmax(1)).mean())
    cos = float((f_emb * q_emb).sum(1).mean())
    log(f"int8: top-1 agreement with fp32 {agree:.1%} on {len(x)} inputs, mean embedding cosine {cos:.4f}")
    return q_data
