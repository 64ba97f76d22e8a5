"""Export facenet-pytorch's MTCNN networks (P-Net, R-Net, O-Net; the weights installed with the package,
nothing downloaded) to ONNX for lrface.detect, and check each against torch on random input.

    PYTHONPATH=. python tools/export_mtcnn.py [--out lrface/detect/weights]

Needs the [train] extra (torch, facenet-pytorch); run once, the .onnx files are committed.
"""

from __future__ import annotations

import argparse
import io
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from facenet_pytorch.models.mtcnn import ONet, PNet, RNet

OPSET = 18
# name -> (network, example input side, output names); P-Net is fully convolutional (any H x W)
NETS = {
    "pnet": (PNet, 12, ["reg", "prob"]),
    "rnet": (RNet, 24, ["reg", "prob"]),
    "onet": (ONet, 48, ["reg", "points", "prob"]),
}


def export(name: str, out: Path) -> Path:
    cls, side, outputs = NETS[name]
    net = cls(pretrained=True).eval()
    axes = {0: "batch", 2: "height", 3: "width"} if name == "pnet" else {0: "batch"}
    dyn = {"image": axes} | {o: ({0: "batch", 2: "h", 3: "w"} if name == "pnet" else {0: "batch"}) for o in outputs}
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            net,
            (torch.zeros(2, 3, side, side),),
            buf,
            dynamo=False,
            opset_version=OPSET,
            input_names=["image"],
            output_names=outputs,
            dynamic_axes=dyn,
        )
    proto = onnx.load_from_string(buf.getvalue())
    onnx.helper.set_model_props(
        proto,
        {
            "lrface.format": "mtcnn-onnx/1",
            "lrface.source": "facenet-pytorch 2.5.3 (MIT), weights ported from davidsandberg/facenet (MIT)",
            "lrface.input": "N x 3 x H x W float32 RGB, (pixel - 127.5) / 128",
        },
    )
    onnx.checker.check_model(proto)
    path = out / f"{name}.onnx"
    path.write_bytes(proto.SerializeToString())
    check(net, path, side)
    return path


def check(net, path: Path, side: int) -> None:
    """ONNX Runtime against torch on random input, at two batch sizes (and for P-Net two image sizes)."""
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    shapes = [(1, 3, side, side), (5, 3, side, side)] + ([(2, 3, 97, 131)] if side == 12 else [])
    for shape in shapes:
        x = rng.uniform(-1, 1, shape).astype(np.float32)
        with torch.inference_mode():
            want = [t.numpy() for t in net(torch.from_numpy(x))]
        got = sess.run(None, {"image": x})
        err = max(float(np.abs(a - b).max()) for a, b in zip(got, want))
        assert err < 1e-4, (path, shape, err)
    print(f"{path}: {path.stat().st_size} bytes, max |onnx - torch| < 1e-4")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "lrface" / "detect" / "weights"))
    out = Path(p.parse_args().out)
    out.mkdir(parents=True, exist_ok=True)
    for name in NETS:
        export(name, out)


if __name__ == "__main__":
    main()
