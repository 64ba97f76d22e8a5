"""Backbones by registry, and the stream wrapper that attaches guided modules."""

from . import cifar_resnet, resnet, shufflenet, vgg  # noqa: F401  (importing a module registers its models)
from .registry import build_model, list_models, register_model
from .stream import GuidedModule, Stream, StreamOutput

__all__ = ["build_model", "list_models", "register_model", "GuidedModule", "Stream", "StreamOutput"]
