"""The MTCNN cascade (Zhang et al. 2016: P-Net on an image pyramid, R-Net, O-Net) on OpenCV DNN + NumPy,
step for step as facenet-pytorch's ``detect_face`` (same resampling, NMS, box regression), without torch; the networks
run faster on OpenCV than on ONNX Runtime here, with the same outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .nms import nms
from .opencv_net import OpenCVNet
from .resample import AreaSampler

WEIGHTS = Path(__file__).resolve().parent / "weights"
CELL, STRIDE = 12, 2  # P-Net's window and output stride (pixels of its pyramid level)
OUTPUTS = {"pnet": ["reg", "prob"], "rnet": ["reg", "prob"], "onet": ["reg", "points", "prob"]}  # export_mtcnn.py
WIDTH = {"reg": 4, "prob": 2, "points": 10}  # R-Net's and O-Net's outputs per crop


def _normalise(x: np.ndarray) -> np.ndarray:
    """(N x) 3 x H x W float32 0..255 -> the network input, (x - 127.5) / 128, in place."""
    x -= np.float32(127.5)
    x *= np.float32(0.0078125)
    return x


def _square(b: np.ndarray) -> np.ndarray:
    """Boxes (x1 y1 x2 y2 ...) made square around their centre, side max(w, h) (``rerec``)."""
    b = b.copy()
    w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    side = np.maximum(w, h)
    b[:, 0] += w * 0.5 - side * 0.5
    b[:, 1] += h * 0.5 - side * 0.5
    b[:, 2] = b[:, 0] + side
    b[:, 3] = b[:, 1] + side
    return b


def _regress(b: np.ndarray, reg: np.ndarray) -> np.ndarray:
    """Apply the networks' box offsets (fractions of the +1 pixel width/height) (``bbreg``)."""
    b = b.copy()
    w, h = b[:, 2] - b[:, 0] + 1, b[:, 3] - b[:, 1] + 1
    b[:, :4] += reg[:, :4] * np.stack([w, h, w, h], axis=1)
    return b


class Cascade:
    """The three ONNX networks (exported by tools/export_mtcnn.py from facenet-pytorch's weights), run on
    OpenCV's DNN module (``engine="opencv"``) or ONNX Runtime (the reference; same outputs within 1e-4)."""

    def __init__(self, threads: int = 0, weights: Path = WEIGHTS, engine: str = "opencv"):
        if engine == "opencv":  # faster on all three (results/2026-12-04-detection.md), outputs within 1e-4
            self.nets = {n: OpenCVNet(weights / f"{n}.onnx", out, threads) for n, out in OUTPUTS.items()}
            # refine's O-Net batches (2 crops per face) get their own Net: a cv2 Net re-plans when its batch changes
            self.refine_net = OpenCVNet(weights / "onet.onnx", OUTPUTS["onet"], threads)
            return
        if engine != "onnxruntime":
            raise ValueError(f"engine={engine!r}: use 'opencv' or 'onnxruntime'")
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        # idle pool threads sleep instead of spinning: spinning burns a shared machine's cores for nothing
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.nets = {
            n: ort.InferenceSession(str(weights / f"{n}.onnx"), opts, providers=["CPUExecutionProvider"])
            for n in OUTPUTS
        }
        self.refine_net = self.nets["onet"]

    def _stage(self, name: str, img: AreaSampler, boxes: np.ndarray, side: int) -> tuple[np.ndarray, list]:
        """Crop boxes (clipped to the image, facenet's ``pad``) area-resized to side x side -> network outputs."""
        h, w = img.h, img.w
        b = np.trunc(boxes[:, :4]).astype(np.int64)
        x0, y0 = np.maximum(b[:, 0], 1) - 1, np.maximum(b[:, 1], 1) - 1
        x1, y1 = np.minimum(b[:, 2], w), np.minimum(b[:, 3], h)
        ok = (x1 > x0) & (y1 > y0)
        if not ok.any():  # every box lies outside the image; the networks refuse an empty batch
            return ok, [np.zeros((0, WIDTH[o]), np.float32) for o in OUTPUTS[name]]
        crops = img.crops(x0[ok], y0[ok], x1[ok], y1[ok], (side, side))  # N x 3 x side x side
        return ok, self.nets[name].run(None, {"image": _normalise(crops)})

    def _pnet(self, img: AreaSampler, minsize: float, threshold: float, factor: float) -> np.ndarray:
        """Candidates from every pyramid level: N x 9 (x1 y1 x2 y2 score, 4 offsets), per-level NMS 0.5."""
        h, w = img.h, img.w
        scale, minl, found = CELL / minsize, min(h, w) * CELL / minsize, []
        while minl >= CELL:
            level = img.resize((int(h * scale + 1), int(w * scale + 1)))[None]  # 1 x 3 x h x w
            reg, prob = self.nets["pnet"].run(None, {"image": _normalise(level)})
            ys, xs = np.nonzero(prob[0, 1] >= threshold)
            if len(ys):
                cell = np.stack([xs, ys], axis=1).astype(np.float32)
                q1 = np.floor((STRIDE * cell + 1) / np.float32(scale))
                q2 = np.floor((STRIDE * cell + CELL) / np.float32(scale))
                boxes = np.concatenate([q1, q2, prob[0, 1, ys, xs, None], reg[0][:, ys, xs].T], axis=1)
                found.append(boxes[nms(boxes[:, :4], boxes[:, 4], 0.5)])
            scale, minl = scale * factor, minl * factor
        return np.concatenate(found) if found else np.zeros((0, 9), np.float32)

    def run(
        self,
        image: np.ndarray,
        minsize: float,
        thresholds,
        factor: float,
        max_faces: int,
        candidates: int,
        refine: bool = False,
    ):
        """uint8 RGB -> boxes (N x 5: x1 y1 x2 y2 score) and landmarks (N x 5 x 2) in its pixels.
        Work is bounded: at most ``candidates`` (best P-Net score first) reach R-Net, 2 x max_faces O-Net.
        ``refine``: each final face's landmarks are the mean of O-Net's (facenet's) and of O-Net run again on the
        face's final box and on its mirror image (``_refined``; not facenet's output)."""
        img = AreaSampler(image)
        none = np.zeros((0, 5), np.float32), np.zeros((0, 5, 2), np.float32)
        boxes = self._pnet(img, minsize, thresholds[0], factor)
        boxes = boxes[nms(boxes[:, :4], boxes[:, 4], 0.7)][:candidates]
        if not len(boxes):
            return none
        w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
        boxes = _square(np.concatenate([boxes[:, :4] + boxes[:, 5:9] * np.stack([w, h, w, h], 1), boxes[:, 4:5]], 1))

        ok, (reg, prob) = self._stage("rnet", img, boxes, 24)
        boxes, keep = boxes[ok], prob[:, 1] > thresholds[1]
        boxes = np.concatenate([boxes[keep, :4], prob[keep, 1:2]], axis=1)
        reg = reg[keep]
        pick = nms(boxes[:, :4], boxes[:, 4], 0.7)[: max(100, 2 * max_faces)]
        boxes = _square(_regress(boxes[pick], reg[pick]))
        if not len(boxes):
            return none

        ok, (reg, points, prob) = self._stage("onet", img, boxes, 48)
        boxes, keep = boxes[ok], prob[:, 1] > thresholds[2]
        boxes = np.concatenate([boxes[keep, :4], prob[keep, 1:2]], axis=1)
        reg, points = reg[keep], points[keep]
        bw, bh = boxes[:, 2] - boxes[:, 0] + 1, boxes[:, 3] - boxes[:, 1] + 1
        px = bw[:, None] * points[:, :5] + boxes[:, 0:1] - 1
        py = bh[:, None] * points[:, 5:10] + boxes[:, 1:2] - 1
        boxes = _regress(boxes, reg)
        pick = nms(boxes[:, :4], boxes[:, 4], 0.7, mode="min")
        points = np.stack([px, py], axis=2)[pick]
        if refine and len(pick):
            points = (points + self._refined(img, boxes[pick])) / 3
        return boxes[pick], points

    def _refined(self, img: AreaSampler, boxes: np.ndarray) -> np.ndarray:
        """O-Net's landmarks of the final boxes (squared, rounded to whole pixels) plus those of the mirrored
        crops (mirrored back, image-left and image-right points swapped): N x 5 x 2, summed. On small faces the
        final box is better centred than the box O-Net first saw, and the mean of the three landmark sets is
        steadier (tools/val_align_small.py)."""
        b = np.round(_square(boxes[:, :4].astype(np.float64))).astype(np.int64)
        b[:, :2] = np.clip(b[:, :2], 1, [img.w, img.h])
        b[:, 2], b[:, 3] = np.minimum(b[:, 2], img.w), np.minimum(b[:, 3], img.h)
        b[:, 2:] = np.maximum(b[:, 2:], b[:, :2])  # a box wholly outside the image: a 1 px crop at its edge
        crops = img.crops(b[:, 0] - 1, b[:, 1] - 1, b[:, 2], b[:, 3], (48, 48))  # N x 3 x 48 x 48
        n = len(b)
        _, p, _ = self.refine_net.run(None, {"image": _normalise(np.concatenate([crops, crops[..., ::-1]]))})
        bw, bh = (b[:, 2] - b[:, 0] + 1)[:, None], (b[:, 3] - b[:, 1] + 1)[:, None]
        x0, y0 = b[:, 0:1] - 1, b[:, 1:2] - 1
        again = np.stack([bw * p[:n, :5] + x0, bh * p[:n, 5:] + y0], axis=2)
        mirror = np.stack([bw * (1 - p[n:, :5]) + x0, bh * p[n:, 5:] + y0], axis=2)[:, [1, 0, 2, 4, 3]]
        return again + mirror
