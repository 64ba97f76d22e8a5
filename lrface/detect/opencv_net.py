"""An ONNX network on OpenCV's DNN module behind ONNX Runtime's ``run(None, {name: x})`` call: MTCNN's small
networks run 15-30 % faster there than on ONNX Runtime (results/2026-12-04-detection.md)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

import cv2
import numpy as np

SHAPES_KEPT = 16  # nets kept per thread, one per input shape but the batch (a frame's pyramid has ~11 levels)


class _ThreadCount:
    """OpenCV's process-wide thread count, set while any call that asked for one runs; the first call in
    saves the count, the last one out restores it (concurrent calls: the latest request holds meanwhile)."""

    def __init__(self):
        self.lock, self.active, self.saved = threading.Lock(), 0, 0

    def enter(self, threads: int) -> None:
        with self.lock:
            if self.active == 0:
                self.saved = cv2.getNumThreads()
            self.active += 1
            cv2.setNumThreads(threads)

    def leave(self) -> None:
        with self.lock:
            self.active -= 1
            if self.active == 0:
                cv2.setNumThreads(self.saved)


THREADS = _ThreadCount()


class OpenCVNet:
    """``outputs``: the names run returns, in order. A cv2.dnn.Net re-plans (allocates) whenever its input
    shape changes and holds its input and buffers, so each thread keeps one Net per input shape apart from
    the batch (P-Net's pyramid levels repeat for same-sized frames; R-Net's and O-Net's crops are one shape,
    their batch varies), the SHAPES_KEPT most recently used. ``threads`` > 0: OpenCV's
    process-wide thread count is set to it during each call and restored after (_ThreadCount)."""

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
        net = self._net(x.shape[1:])
        if self.threads <= 0:
            net.setInput(x)
            return list(net.forward(self.outputs))
        THREADS.enter(self.threads)
        try:
            net.setInput(x)
            return list(net.forward(self.outputs))
        finally:
            THREADS.leave()
