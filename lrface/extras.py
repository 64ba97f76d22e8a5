"""Optional dependency groups (pyproject extras): a command that needs one that is not installed stops
with one line naming it, before any work (``pip install lrface`` installs the serving core only)."""

from __future__ import annotations

import importlib.util

from .errors import UserError

# extra -> the modules it provides that lrface imports ([train] includes [eval])
EVAL = ("matplotlib", "scipy")
EXTRAS = {
    "train": ("torch", "torchvision", "facenet_pytorch", "albumentations", "onnx", "yaml", *EVAL),
    "eval": EVAL,
    "serve": ("starlette", "uvicorn", "multipart"),
}


def require(extra: str, what: str) -> None:
    """Raise a one-line UserError when a module of ``extra`` is not installed; ``what`` names what needs it."""
    missing = [m for m in EXTRAS[extra] if importlib.util.find_spec(m) is None]
    if missing:
        raise UserError(
            f"{what} needs the [{extra}] extra ({missing[0]} is not installed): pip install 'lrface[{extra}]'"
        )
