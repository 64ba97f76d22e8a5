"""An ONNX network on OpenCV's DNN module behind ONNX Runtime's ``run(None, {name: x})`` call: P-Net, a
fully convolutional net run on every pyramid level, is ~30 % faster there (results/2026-12-04-detection.md)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

import cv2
import numpy as np

SHAPES_KEPT = 16  # nets kept per thread, one per input shape (a frame's pyramid has ~11 levels)


class OpenCVNet:
    """``outputs``: the names run returns, in order. A cv2.dnn.Net re-plans (allocates) whenever its input
    shape changes and holds its input and buffers, so each thread keeps one Net per input shape (the pyramid
    levels of same-sized frames repeat), the SHAPES_KEPT most recently used. ``threads`` > 0: OpenCV's
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
        net, before = self._net(x.shape), cv2.getNumThreads()
        if self.threads > 0:
            cv2.setNumThreads(self.threads)
        try:
            net.setInput(x)
            return list(net.forward(self.outputs))
        finally:
            cv2.setNumThreads(before)
