"""Atomic writes: write to a temporary file beside the target, then rename over it."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import glob
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from .errors import UserError

_UMASK = os.umask(0)
os.umask(_UMASK)
# causes of a failed write outside the program, and what to do
OS_FIXES = {
    errno.ENOSPC: "free disk space and run it again",
    errno.EDQUOT: "free disk space and run it again",
    errno.EROFS: "the file system is read-only; write somewhere else",
    errno.EACCES: "fix the permissions or choose another path",
    errno.EPERM: "fix the permissions or choose another path",
}


def write_error_line(e: OSError) -> str:
    """An OSError met while reading or writing as one line: the path, the cause and the fix."""
    where = f"{e.filename}: " if e.filename else ""
    fix = OS_FIXES.get(e.errno, "check the path and run it again")
    return f"{where}{e.strerror or e}; {fix} (outputs are written atomically, so nothing was left half-written)"


def _named(e: OSError, target: Path) -> OSError:
    """``e`` naming ``target`` (a failed write() names no file; a temporary file's name means nothing to anyone)."""
    if e.filename is None or str(e.filename).startswith(str(target.parent / f".{target.name}.")):
        return OSError(e.errno, e.strerror or str(e), str(target))
    return e


def write_file(target: str | os.PathLike, data) -> None:
    """Write ``data`` (bytes-like) to ``target`` and fsync it; an OSError names ``target``."""
    target = Path(target)
    try:
        with open(target, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as e:
        raise _named(e, target) from None


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; rename it onto ``target`` on success only."""
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as e:
        raise _named(e, target) from None
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the file the usual permissions
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, target)
    except OSError as e:
        raise _named(e, target) from None
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def atomic_write(target: str | os.PathLike, writer: Callable[[Path], None]) -> None:
    """Call ``writer(tmp_path)`` and move the result onto ``target`` atomically."""
    with atomic_path(target) as tmp:
        writer(tmp)


def atomic_write_text(target: str | os.PathLike, text: str) -> None:
    atomic_write(target, lambda p: p.write_text(text, encoding="utf-8"))


def atomic_write_json(target: str | os.PathLike, obj) -> None:
    atomic_write_text(target, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def check_output(path: str | os.PathLike, kind: str, suffix: str | None = None, label: str = "--out") -> None:
    """Before any work: ``path`` can be written as a ``kind`` ("dir" or "file", with ``suffix``) - it is not
    the other kind, nor a device or pipe, no component of it is a file, and the nearest existing folder is
    writable. UserError otherwise, naming the path as ``label``. The suffix keeps a file output off the
    command's inputs (a checkpoint)."""
    path = Path(path)
    if kind == "dir" and path.exists() and not path.is_dir():
        raise UserError(f"{label} {path}: exists and is a file, not a folder; choose another {label} or move the file")
    if kind == "file" and path.is_dir():
        raise UserError(f"{label} {path}: is a folder; pass a file name inside it or another path")
    if kind == "file" and path.exists() and not path.is_file():
        raise UserError(f"{label} {path}: is a device, pipe or socket, not a file; pass a file name")
    if suffix and path.suffix != suffix:
        raise UserError(f"{label} {path}: the file name must end in {suffix}")
    folder = path if kind == "dir" else path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise UserError(
            f"{label} {path}: {folder} is a file, so nothing can be written below it; choose another {label}"
        )
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UserError(
            f"{label} {path}: the folder {folder} is not writable (read-only or no permission); "
            f"choose another {label} or fix its permissions"
        )


def check_not_input(out: str | os.PathLike, inputs, kind: str = "dir", label: str = "--out") -> None:
    """Refuse an output that is an input of the same command, or (a folder, which --force deletes) contains one or
    lies inside one: ``inputs`` are (what, path) pairs; paths that do not exist are skipped."""
    target = Path(os.path.realpath(out))
    for what, path in inputs:
        if not path or not os.path.lexists(path):
            continue
        src = Path(os.path.realpath(path))
        if src == target:
            how = "is"
        elif kind == "dir" and target in src.parents:
            how = "contains"
        elif kind == "dir" and src in target.parents:
            how = "lies inside"
        else:
            continue
        raise UserError(
            f"{label} {out} {how} {what} {path}, which this command reads (writing there, or --force, would "
            f"destroy it); choose another {label}"
        )


@contextlib.contextmanager
def claim_output(out: str | os.PathLike, label: str = "--out") -> Iterator[None]:
    """Hold an exclusive claim on the output ``out`` while the command runs (a lock file beside it, removed at the
    end; the kernel drops the lock of a killed process), so that a second command writing the same output at the
    same time is refused in one line instead of both reporting success. Temporary files that a killed earlier
    writer of ``out`` left beside it (``atomic_path``'s ``.<name>.*.tmp``) are removed once the claim is held."""
    target = Path(os.path.realpath(out))
    target.parent.mkdir(parents=True, exist_ok=True)
    lock = target.parent / f".{target.name}.lrface-lock"
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666 & ~_UMASK)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if e.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            raise UserError(
                f"{label} {out}: another lrface command is writing it right now; wait for it to finish "
                f"or choose another {label}"
            ) from None
        try:
            same = os.stat(lock).st_ino == os.fstat(fd).st_ino  # not a lock file its last owner just removed
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    for debris in target.parent.glob(f".{glob.escape(target.name)}.*.tmp"):  # left by a killed earlier writer:
        debris.unlink(missing_ok=True)  # with the claim held, no other lrface command is writing them
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)
        os.close(fd)


def cache_dir() -> Path:
    """lrface's cache folder, ``$LRFACE_CACHE`` or ``~/.cache/lrface``; UserError (before any work) when it is a
    file, lies below one or is not writable."""
    path = Path(os.environ.get("LRFACE_CACHE") or Path.home() / ".cache" / "lrface")
    check_output(path, "dir", label="$LRFACE_CACHE")
    return path
