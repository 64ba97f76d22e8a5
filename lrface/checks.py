"""Shared checks of argument values from the CLI, the Python API and the service: types, ranges and paths.

Each check fails as one line naming the value, the bound and the fix (UserError; WrongType, a TypeError too,
for a value of the wrong type), before any work starts."""

from __future__ import annotations

import math
import numbers
import os
from pathlib import Path

from .errors import UserError, WrongType

THREADS_PER_CORE = 4  # more threads than this per core only adds contention (and 100000 never start)


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def max_threads() -> int:
    return THREADS_PER_CORE * cores()


def _number(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise WrongType(f"{name} {value!r} is not a number ({type(value).__name__}); pass a number such as 0.5")
    return float(value)


def threshold(value, name: str = "threshold") -> float:
    """A cosine-score threshold: a finite number in [-1, 1] (cosine scores lie there, so anything outside
    names everyone, or no one)."""
    value = _number(value, name)
    if not math.isfinite(value):
        raise UserError(f"{name} {value} is not a finite number; pass a cosine score in [-1, 1] such as 0.5")
    if not -1.0 <= value <= 1.0:
        raise UserError(
            f"{name} {value:.10g} is outside [-1, 1], where cosine scores lie (it would accept everyone or no one); "
            "pass a score such as 0.5"
        )
    return value


def thread_count(value, name: str = "threads", zero: str | None = "one per core") -> int:
    """A thread count: a whole number from 1 (0 too where ``zero`` says what it means) up to
    :func:`max_threads` (4 x the cores)."""
    low = 0 if zero else 1
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise WrongType(f"{name}={value!r} is not a whole number ({type(value).__name__}); pass e.g. 1")
    top = max_threads()
    if not low <= value <= top:
        what = f" (0: {zero})" if zero else ""
        raise UserError(
            f"{name}={value}: must be between {low}{what} and {top} ({THREADS_PER_CORE} x the {cores()} cores)"
        )
    return int(value)


def path_arg(value, label: str) -> Path:
    """A path argument: a str or os.PathLike (WrongType otherwise) without NUL bytes, which no file name holds."""
    if isinstance(value, bytes):
        value = os.fsdecode(value)
    if not isinstance(value, (str, os.PathLike)):
        raise WrongType(f"{label} {value!r} is not a path ({type(value).__name__}); pass a str or pathlib.Path")
    text = os.fspath(value)
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    if "\x00" in text:
        raise UserError(f"{label} {text!r}: a file name cannot contain a NUL byte; pass the real path")
    return Path(text)
