"""Sweep cases that kill builds, adds, prepares and embeds part-way, and run two writers at once."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np

from .fixtures import BIG_IDS, gallery_copy, gallery_opens, no_temp_files, scratch
from .runner import ENV, PY, Sweep


def interrupt_cases(s: Sweep, F):
    """Kill `gallery build --force` / `gallery add` / `embed --out` at 15-90 % of their uninterrupted time:
    the old gallery generation (or the new, complete one) must still open whole, nothing half-written."""
    if not s.wanted("interrupt"):
        return

    def timed(argv):
        t = time.time()
        subprocess.run([PY, "-m", "lrface", *map(str, argv)], env=ENV, capture_output=True, check=True)
        return time.time() - t

    def killed(case, argv, g, sig, at, n_old, n_new, out=None):
        p = subprocess.Popen(
            [PY, "-m", "lrface", *map(str, argv)], env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        time.sleep(at)
        p.send_signal(sig)
        _, err = p.communicate()
        lines = [e for e in err.splitlines() if e.strip() and not e.startswith(("embedding ", "warning"))]
        why = "traceback" if "Traceback" in err else ""
        if sig == signal.SIGINT and not why and p.returncode not in (0, 130):
            why = f"exit {p.returncode} on Ctrl-C"
        if sig == signal.SIGINT and not why and len(lines) > 1:
            why = f"{len(lines)} lines on Ctrl-C"
        if g is not None:
            # killed: the old generation, or the new one when the kill came after it was published
            counts = (n_new,) if p.returncode == 0 else (n_old, n_new)
            why = why or gallery_opens(g, *counts)() or no_temp_files(g)()
        if out is not None and p.returncode != 0 and out.exists():  # killed after the rename: it must be whole
            why = why or _partial_npy(out, n_new)
        if out is not None:
            left = no_temp_files(out)()
            if left and sig == signal.SIGKILL:  # a killed writer cannot clean up: the next run of the same --out must
                again = subprocess.run([PY, "-m", "lrface", *map(str, argv)], env=ENV, capture_output=True)
                left = f"rerun exit {again.returncode}" if again.returncode else no_temp_files(out)()
                left = left or _partial_npy(out, n_new)
            why = why or left
        s.record(case, f"killed at {at:.1f} s", p.returncode, (lines or [""])[-1], why)

    g = gallery_copy(F, "gint")
    full = timed(["gallery", "build", F["big"], "--out", g, "--force"])
    for sig, fracs in ((signal.SIGKILL, (0.15, 0.4, 0.7, 0.9)), (signal.SIGINT, (0.3, 0.8))):
        for frac in fracs:
            g = gallery_copy(F, "gint")
            argv = ["gallery", "build", F["big"], "--out", g, "--force"]
            killed(f"interrupt build {sig.name} {frac:.0%}", argv, g, sig, frac * full, 6, BIG_IDS)
    g = gallery_copy(F, "gint")
    full = timed(["gallery", "add", g, F["big"]])
    for sig, frac in ((signal.SIGKILL, 0.3), (signal.SIGKILL, 0.8), (signal.SIGINT, 0.6)):
        g = gallery_copy(F, "gint")
        killed(
            f"interrupt add {sig.name} {frac:.0%}", ["gallery", "add", g, F["big"]], g, sig, frac * full, 6, 6 + BIG_IDS
        )
    ref = scratch(F, "prep-ref")
    prep = ["prepare", "folder", F["big"], "--no-detect-fallback", "box", "--out"]
    full = timed(prep + [ref])
    for frac in (0.3, 0.6, 0.9):
        out = scratch(F, "prep-kill")
        killed(f"interrupt prepare SIGKILL {frac:.0%}", prep + [out], None, signal.SIGKILL, frac * full, 0, 0)
        p = subprocess.run([PY, "-m", "lrface", *map(str, prep + [out])], env=ENV, capture_output=True, text=True)
        same = p.returncode == 0 and _packed_summary(out) == _packed_summary(ref)
        why = "" if same else f"resume: exit {p.returncode}, {p.stderr.strip()[-100:]} / sets differ"
        s.record(
            f"resume prepare after {frac:.0%}", "prepare again, same --out", p.returncode, p.stdout.strip()[-90:], why
        )
    g = gallery_copy(F, "gconc")  # two CLI writers at once: both identities land, the gallery stays whole
    trees = []
    for k in range(2):
        t = scratch(F, f"conc{k}")
        for i in range(40):
            shutil.copytree(F["big"] / f"p{k * 40 + i:03d}", t / f"c{k}-{i:02d}")
        trees.append(t)
    procs = [subprocess.Popen([PY, "-m", "lrface", "gallery", "add", str(g), str(t)], env=ENV,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for t in trees]  # fmt: skip
    codes = [p.wait() for p in procs]
    why = "" if codes == [0, 0] else f"exit codes {codes}: {procs[0].stderr.read()[-100:]}"
    s.record("two gallery adds at once", "gallery add x 2, concurrently", codes, "", why or gallery_opens(g, 86)())
    out = scratch(F, "emb-kill.npy")
    full = timed(["embed", F["big"], "--out", out])
    rows = len(np.load(out))
    for frac in (0.5, 0.9):
        out = scratch(F, "emb-kill.npy")
        killed(
            f"interrupt embed SIGKILL {frac:.0%}",
            ["embed", F["big"], "--out", out],
            None,
            signal.SIGKILL,
            frac * full,
            0,
            rows,
            out,
        )


def _partial_npy(out: Path, rows: int) -> str:
    """'' when ``out`` is the whole embedding array (``rows`` rows), else why it is half-written."""
    try:
        n = len(np.load(out))
    except (OSError, ValueError, EOFError) as e:
        return f"{out} half-written ({e})"
    return "" if n == rows else f"{out} half-written ({n} of {rows} rows)"


def _packed_summary(root: Path):
    """A packed set's class names and per-split image arrays (hashes), to compare a resumed set with a fresh one."""
    import hashlib

    try:
        m = json.loads((root / "manifest.json").read_text())
        arrays = sorted(
            (p.relative_to(root).as_posix(), hashlib.sha256(np.load(p).tobytes()).hexdigest())
            for p in root.rglob("*.npy")
        )
    except (OSError, ValueError):
        return None
    return m["class_names"], arrays
