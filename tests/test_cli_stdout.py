"""stdout that cannot take the output: a reader that stopped reading (quiet, 141) and a full disk (one line, 2),
whether the stream is unbuffered or block-buffered (a pipe or file without PYTHONUNBUFFERED)."""

import errno
import os
import subprocess
import sys

import pytest

from lrface.cli import main


class _ClosedPipe:
    """A stdout whose reader has gone (`lrface models | head -1` after head exits)."""

    def write(self, text):
        raise BrokenPipeError(errno.EPIPE, "Broken pipe")

    def flush(self):
        pass


class _BufferedClosedPipe:
    """The same behind a block buffer (stdout is a pipe, PYTHONUNBUFFERED unset): writes succeed, the flush fails."""

    def write(self, text):
        return len(text)

    def flush(self):
        raise BrokenPipeError(errno.EPIPE, "Broken pipe")


@pytest.mark.parametrize("stdout", [_ClosedPipe, _BufferedClosedPipe])
def test_a_reader_that_stops_reading_is_not_reported_as_our_error(capsys, monkeypatch, stdout):
    monkeypatch.setattr("sys.stdout", stdout())
    rc = main(["models"])
    # the shell's status for a writer whose pipe closed (128 + SIGPIPE), and no "check the path" advice
    assert rc == 141 and capsys.readouterr().err == ""


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_stdout_on_a_full_disk_is_one_line_even_when_block_buffered():
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # a pipe or file: block-buffered
    with open("/dev/full", "w") as full:
        r = subprocess.run([sys.executable, "-m", "lrface.cli", "models"], stdout=full, stderr=subprocess.PIPE, env=env)
    err = r.stderr.decode().strip().splitlines()
    # before: exit 0 from main, then the interpreter's "Exception ignored ... OSError" and status 120
    assert r.returncode == 2 and len(err) == 1 and "No space left on device" in err[0], err
