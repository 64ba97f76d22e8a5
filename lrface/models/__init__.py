"""Backbones by registry, and the stream wrapper that attaches guided modules."""

from . import resnet  # noqa: F401  (registers the ResNet family)
from .registry import build_model, list_models, register_model
from .stream import GuidedModule, Stream, StreamOutput

__all__ = ["build_model", "list_models", "register_model", "GuidedModule", "Stream", "StreamOutput"]
