"""Classification benchmarks by ``data.kind`` (CIFAR-10/100, Tiny-ImageNet): the paper's Tables I-V."""

from __future__ import annotations

from pathlib import Path

from ..config import DataConfig
from .cifar import load_cifar
from .tinyimagenet import load_tiny_imagenet


def load_classification(kind: str, root: Path, d: DataConfig):
    """({split: (uint8 images, labels)}, class_names); few-sample subsets are applied later by sources."""
    low_res = d.image_size if d.low_res else None
    if kind == "tiny-imagenet":
        return load_tiny_imagenet(root, download=d.download, low_res=low_res)
    return load_cifar(root, kind, download=d.download, low_res=low_res)
