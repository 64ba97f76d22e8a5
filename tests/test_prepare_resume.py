"""`lrface prepare`: seeded degradation, and resuming an interrupted or killed run (damaged chunks redone)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import pytest

from lrface.data.packed import is_packed_set, read_packed_set

pytest.importorskip("skimage.data")

from lrface.prep import pipeline  # noqa: E402
from lrface.prep.options import PrepareConfig  # noqa: E402
from lrface.prep.pipeline import prepare  # noqa: E402
from lrface.prep.readers import read_folder  # noqa: E402
from tests.prepare_helpers import paste, save  # noqa: E402


def test_degradation_seeded_and_configurable(tmp_path, astronaut):
    root = tmp_path / "faces"
    for k in range(3):
        save(root / "ann" / f"{k}.png", paste(astronaut, canvas=(200, 200), at=(20 + 5 * k, 20), tint=k)[0])
    items = read_folder(root)

    def run(name, **kw):
        prepare(items, tmp_path / name, PrepareConfig(workers=1, **kw), kind="folder", root=root, progress=False)
        return np.asarray(read_packed_set(tmp_path / name).splits["all"][0])

    plain, noisy, noisy2, other = (
        run("p"),
        run("n", blur=1.5, noise=12, jpeg_quality=40),
        run("n2", blur=1.5, noise=12, jpeg_quality=40),
        run("o", blur=1.5, noise=12, jpeg_quality=40, seed=1),
    )
    assert np.array_equal(noisy, noisy2) and not np.array_equal(noisy, other)
    assert 2 < np.abs(noisy.astype(float) - plain).mean() < 40
    big = run("big", size=48, downsample="bicubic")
    assert big.shape == (3, 48, 48, 3)


def test_interrupted_run_resumes_without_redoing_work(tmp_path, astronaut, monkeypatch):
    root = tmp_path / "faces"
    for k in range(12):
        save(root / f"id{k % 3}" / f"{k}.png", paste(astronaut, canvas=(180, 180), at=(5 + k, 10), tint=k)[0])
    items = read_folder(root)
    cfg = dict(workers=1, batch_size=4, chunk_size=4, split_fraction=0.25)
    reference = prepare(items, tmp_path / "ref", PrepareConfig(**cfg), "folder", root, progress=False)
    assert reference.processed == 12

    real_save, saved = pipeline.save_chunk, []

    def save_then_die(path, *a):
        if len(saved) == 2:
            raise KeyboardInterrupt  # killed while the third chunk was in flight
        real_save(path, *a)
        saved.append(path)

    monkeypatch.setattr(pipeline, "save_chunk", save_then_die)
    out = tmp_path / "set"
    with pytest.raises(KeyboardInterrupt):
        prepare(items, out, PrepareConfig(**cfg), "folder", root, progress=False)
    assert not is_packed_set(out) and len(list((out / ".work").glob("chunk_*.npz"))) == 2
    monkeypatch.setattr(pipeline, "save_chunk", real_save)
    result = prepare(items, out, PrepareConfig(**cfg), "folder", root, progress=False)
    assert (result.resumed, result.processed) == (8, 4)
    a, b = read_packed_set(tmp_path / "ref"), read_packed_set(out)
    for name in ("train", "test"):
        assert np.array_equal(a.splits[name][0], b.splits[name][0])
        assert np.array_equal(a.splits[name][1], b.splits[name][1])
    assert (tmp_path / "ref" / "items.csv").read_text() == (out / "items.csv").read_text()
    assert not (out / ".work").exists()


@pytest.mark.parametrize("damage", ["truncated", "garbage", "wrong-length"])
def test_a_damaged_work_chunk_is_redone(tmp_path, astronaut, monkeypatch, damage):
    root = tmp_path / "faces"
    for k in range(8):
        save(root / f"id{k % 2}" / f"{k}.png", paste(astronaut, canvas=(180, 180), at=(5 + k, 10), tint=k)[0])
    items = read_folder(root)
    cfg = dict(workers=1, batch_size=4, chunk_size=4, split_fraction=0.25)
    real_save = pipeline.save_chunk

    def save_then_die(path, *a):
        real_save(path, *a)
        raise KeyboardInterrupt  # killed after the first chunk was saved

    monkeypatch.setattr(pipeline, "save_chunk", save_then_die)
    out = tmp_path / "set"
    with pytest.raises(KeyboardInterrupt):
        prepare(items, out, PrepareConfig(**cfg), "folder", root, progress=False)
    monkeypatch.setattr(pipeline, "save_chunk", real_save)
    chunk = out / ".work" / "chunk_00000.npz"
    data = chunk.read_bytes()
    if damage == "truncated":
        chunk.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        chunk.write_bytes(b"PK\x03\x04" + os.urandom(300))
    else:
        with np.load(chunk) as z:
            parts = dict(z)
        parts["low"] = parts["low"][:1]
        np.savez(open(chunk, "wb"), **parts)
    result = prepare(items, out, PrepareConfig(**cfg), "folder", root, progress=False)
    assert (result.resumed, result.processed) == (0, 8) and len(read_packed_set(out).splits["train"][1]) == 6


def test_kill_9_mid_run_then_rerun_completes(tmp_path, astronaut):
    root = tmp_path / "faces"
    for k in range(40):
        save(
            root / f"id{k % 4}" / f"{k}.png",
            paste(astronaut, canvas=(160, 160), at=(k % 9, k % 7), scale=0.9, tint=k)[0],
        )
    out = tmp_path / "set"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    argv = [
        sys.executable,
        "-m",
        "lrface.cli",
        "prepare",
        "folder",
        str(root),
        "--out",
        str(out),
        "--workers",
        "1",
        "--batch-size",
        "4",
    ]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(1200):  # kill -9 once the run has started its work directory
            if proc.poll() is not None or (out / ".work" / "run.json").exists():
                break
            time.sleep(0.05)
        time.sleep(0.5)
        assert proc.poll() is None, "the first run ended before the kill; the test would prove nothing"
        proc.kill()
    finally:
        proc.wait()
    assert proc.returncode == -9 and not is_packed_set(out) and (out / ".work" / "run.json").exists()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    ps = read_packed_set(out)
    assert len(ps.splits["all"][1]) == 40 and not (out / ".work").exists()
