"""An ONNX network on OpenCV's DNN module behind ONNX Runtime's ``run(None, {name: x})`` call: MTCNN's small
networks run 15-30 % faster there than on ONNX Runtime (results/2026-12-04-detection.md)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

import cv2
import numpy as np

SHAPES_KEPT = 16  # nets kept per thread, one per input shape but the batch (a frame's pyramid has ~11 levels)


class OpenCVNet:
    """``outputs``: the names run returns, in order. A cv2.dnn.Net re-plans (allocates) whenever its input
    shape changes and holds its input and buffers, so each thread keeps one Net per input shape apart from
    the batch (P-Net's pyramid levels repeat for same-sized frames; R-Net's and O-Net's crops are one shape,
    their batch varies), the SHAPES_KEPT most recently used. ``threads`` > 0: OpenCV's
    process-wide thread count is set to it during each call and restored after."""

    def __init__(self, path: Path, outputs: list[str], threads: int = 0):
        self.data, self.outputs, self.threads = np.fromfile(path, np.uint8), outputs, threads
        self.local = threading.local()

    def _net(self, shape: tuple[int, ...]):
        nets = self.local.__dict__.setdefault("nets", OrderedDict())
        if shape in nets:
            nets.move_to_end(shape)
        else:
            nets[shape] = cv2.dnn.readNetFromONNX(self.data)
            while len(nets) > SHAPES_KEPT:
                nets.popitem(last=False)
        return nets[shape]

    def run(self, _outputs, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        (x,) = feeds.values()
        net, before = self._net(x.shape[1:]), cv2.getNumThreads()
        if self.threads > 0:
            cv2.setNumThreads(self.threads)
        try:
            net.setInput(x)
            return list(net.forward(self.outputs))
        finally:
            cv2.setNumThreads(before)
