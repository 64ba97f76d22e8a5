"""The `lrface` console script: one entry point, thin sub-commands.

Each sub-command lives in ``lrface/commands/<name>.py`` with ``register(subparsers)``; those
modules import only argparse at load time so that `lrface identify` never pulls in torch.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from . import __version__
from .errors import UserError

COMMANDS = ("prepare", "train", "export", "gallery", "identify", "verify", "embed", "evaluate", "benchmark", "models",
            "serve")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The full parser, or (``only``) one with just that sub-command, to keep start-up short."""
    parser = argparse.ArgumentParser(
        prog="lrface",
        description="Low-resolution (16x16) face recognition: prepare data, train a tiny student with "
                    "Evolutionary Knowledge Distillation, export it to ONNX, and identify faces.",
    )
    parser.add_argument("--version", action="version", version=f"lrface {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in (only,) if only else COMMANDS:
        importlib.import_module(f"lrface.commands.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(argv[0] if argv and argv[0] in COMMANDS else None)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except UserError as e:
        print(f"lrface {args.command}: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print(f"lrface {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
