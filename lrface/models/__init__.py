"""Backbones by registry, and the stream wrapper that attaches guided modules."""

from . import resnet  # noqa: F401  (registers the ResNet family)
from . import cifar_resnet, shufflenet, vgg  # noqa: F401  (classification benchmarks, issue 7)
from .registry import build_model, list_models, register_model
from .stream import GuidedModule, Stream, StreamOutput

__all__ = ["build_model", "list_models", "register_model", "GuidedModule", "Stream", "StreamOutput"]
