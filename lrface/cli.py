"""The `lrface` console script: one entry point, thin sub-commands.

Each sub-command lives in ``lrface/commands/<name>.py`` with ``register(subparsers)``; those
modules import only argparse at load time so that `lrface identify` never pulls in torch.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import math
import os
import sys
import warnings

from . import __version__
from .errors import Hint, UserError
from .extras import require
from .fileio import check_not_input, check_output, claim_output, write_error_line

# what each command's --out names (and a file's required suffix), checked before the work starts
OUTPUT_KINDS = {
    "prepare": "dir",
    "train": "dir",
    "export": "file .onnx",
    "embed": "file .npy",
    "evaluate": "dir",
    "benchmark": "dir",
    "gallery build": "dir",
}
# the optional dependency groups (pyproject extras) each command needs beyond the serving core
COMMAND_EXTRAS = {
    "prepare": ("train",),
    "train": ("train",),
    "export": ("train",),
    "evaluate": ("eval",),
    "benchmark": ("train",),
    "serve": ("serve",),
}

POSITIONAL = ("root", "folder", "images", "probes", "probe_dir", "paths", "a", "b")  # else: --KEY
COMMANDS = (
    "prepare",
    "train",
    "export",
    "gallery",
    "identify",
    "verify",
    "embed",
    "evaluate",
    "benchmark",
    "models",
    "serve",
)


EXIT_CODES = """exit status:
  0    success (verify: the same person)
  1    verify: different people (elsewhere only an internal error, which prints a traceback)
  2    bad input or a usage error, or a failed read/write (one line naming the problem and the fix;
       nothing was half-written); also a missing extra, e.g. pip install 'lrface[train]'
  130  interrupted (Ctrl-C)
  141  the reader of stdout stopped reading (e.g. `| head`); nothing is printed about it"""

COMMAND_EXIT = {
    "": "Exit status: 0 success, 2 bad input (one line; nothing half-written), 130 interrupted.",
    "verify": "Exit status: 0 same person, 1 different people, 2 bad input (one line), 130 interrupted.",
}


class OneLineParser(argparse.ArgumentParser):
    """argparse's usage errors as one line (problem + where to look), exit 2, like every other bad input."""

    def error(self, message: str):
        if message.endswith("expected one argument"):  # e.g. --threshold -inf: argparse reads -inf as an option
            message += " (write a value that starts with '-' as --option=VALUE)"
        self.exit(2, f"{self.prog}: error: {one_line(message)}; see `{self.prog} --help`\n")


def one_line(message: str) -> str:
    """``message`` on one line: newlines, tabs and other control characters (a file or identity name
    can hold them) are written as escapes, so an error is always exactly one line."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(message))


def check_numbers(args: argparse.Namespace) -> None:
    """The ranges every command shares: thresholds are cosine scores in [-1, 1]; thread, worker and job counts
    run from 1 to 4 x the cores."""
    from .checks import thread_count, threshold

    if getattr(args, "threshold", None) is not None:
        threshold(args.threshold, "--threshold")
    for name in ("threads", "workers", "jobs"):
        if isinstance(getattr(args, name, None), int):
            thread_count(getattr(args, name), f"--{name}", zero=None)


def input_paths(args: argparse.Namespace) -> list[tuple[str, str]]:
    """(option, path) of every argument that names an existing file or folder: the command's inputs."""
    found = []
    for key, value in vars(args).items():
        for item in value if isinstance(value, list) else [value]:
            if key != "out" and isinstance(item, str) and item and "\x00" not in item and os.path.lexists(item):
                found.append(("the input" if key in POSITIONAL else f"--{key.replace('_', '-')}", item))
    return found


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The full parser, or (``only``) one with just that sub-command, to keep start-up short."""
    parser = OneLineParser(
        prog="lrface",
        description="Low-resolution (16x16) face recognition: prepare data, train a tiny student with "
        "Evolutionary Knowledge Distillation, export it to ONNX, and identify faces.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"lrface {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in (only,) if only else COMMANDS:
        importlib.import_module(f"lrface.commands.{name}").register(sub)
    for name, p in sub.choices.items():
        p.epilog = " ".join(
            [COMMAND_EXIT.get(name, COMMAND_EXIT[""])]
            + [f"Needs the [{e}] extra: pip install 'lrface[{e}]'." for e in COMMAND_EXTRAS.get(name, ())]
        )
    return parser


def quiet_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush into a closed pipe stays silent."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # no file descriptor behind stdout (e.g. captured)
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


@contextlib.contextmanager
def _hints_after():
    """Collect the :class:`lrface.errors.Hint` warnings a command raises (other warnings show as usual)."""
    hints: list[str] = []
    with warnings.catch_warnings():
        shown = warnings.showwarning

        def keep(message, category, *args, **kwargs):
            if issubclass(category, Hint):
                hints.append(str(message))
            else:
                shown(message, category, *args, **kwargs)

        warnings.simplefilter("always", Hint)
        warnings.showwarning = keep
        yield hints


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    for stream in (sys.stdout, sys.stderr):  # a file name with undecodable bytes prints as \udcXX, never crashes
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    parser = build_parser(argv[0] if argv and argv[0] in COMMANDS else None)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        bad = [k for k, v in vars(args).items() if isinstance(v, float) and not math.isfinite(v)]
        if bad:
            raise UserError(f"--{bad[0].replace('_', '-')} {getattr(args, bad[0])}: not a finite number; pass a number")
        for extra in COMMAND_EXTRAS.get(args.command, ()):
            require(extra, "this command")
        check_numbers(args)
        kind = OUTPUT_KINDS.get(args.command) or OUTPUT_KINDS.get(
            f"{args.command} {getattr(args, 'gallery_command', '')}"
        )
        out = getattr(args, "out", None) if kind else None
        with contextlib.ExitStack() as stack:
            if out:
                check_output(out, *kind.split())
                check_not_input(out, input_paths(args), kind.split()[0])
                if os.environ.get("RANK", "0") == "0":  # torchrun's other ranks share rank 0's --out
                    stack.enter_context(claim_output(out))
            with _hints_after() as hints:
                rc = int(args.func(args) or 0)
            for hint in dict.fromkeys(hints):  # after the answer, and never beside an error's one line
                print(f"lrface {args.command}: warning: {hint}", file=sys.stderr)
            sys.stdout.flush()  # block-buffered output (a pipe) meets a closed reader here, inside the handlers
            return rc
    except UserError as e:
        print(f"lrface {args.command}: error: {one_line(e)}", file=sys.stderr)
        return e.exit_code
    except BrokenPipeError:  # the reader stopped reading (`| head`): no error of ours; the shell's SIGPIPE status
        quiet_stdout()
        return 141
    except OSError as e:  # a full disk, a read-only or vanished path met while working: one line, no traceback
        print(f"lrface {args.command}: error: {one_line(write_error_line(e))}", file=sys.stderr)
        try:
            sys.stdout.flush()
        except (OSError, ValueError):  # stdout itself failed (`> /dev/full`): its buffer can go nowhere
            quiet_stdout()
        return 2
    except KeyboardInterrupt:
        print(f"lrface {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
