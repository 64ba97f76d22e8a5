"""Every write path meets a full disk, a read-only file system or a folder it may not write (tests run as root,
so the failure is injected: the OSError the kernel would give) and ends in one line naming the file and the
fix - exit 2 in the CLI, 503 in the service, an OSError naming the file in the API - with the previous state
intact."""

from __future__ import annotations

import errno
import json
import os
import threading
from pathlib import Path

import numpy as np
import pytest

from lrface.cli import main
from tests.conftest import make_identity_set

FIXES = {errno.ENOSPC: "free disk space", errno.EROFS: "read-only", errno.EACCES: "fix the permissions"}


def fail_writes(monkeypatch, err: int, only: str = "") -> None:
    """Every file lrface writes (each is fsync'ed before it counts) fails with ``err``; with ``only``, just the
    files whose path contains it."""
    real = os.fsync

    def fsync(fd):
        if only in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(err, os.strerror(err))
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)


def one_line(capsys, rc, *needles) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and "Traceback" not in "\n".join(err), err
    assert err[-1].startswith("lrface ") and ": error: " in err[-1], err
    for n in needles:
        assert n in err[-1], err[-1]
    return err[-1]


def snapshot(root: Path) -> dict:
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def gallery(tiny, tmp_path, capsys):
    faces = make_identity_set(tmp_path / "faces", identities=3, per_identity=3)
    g = tmp_path / "g"
    assert main(["gallery", "build", str(faces), "--model", str(tiny[1]), "--out", str(g)]) == 0
    capsys.readouterr()
    return g, faces


@pytest.mark.parametrize("err", [errno.ENOSPC, errno.EROFS, errno.EACCES])
@pytest.mark.parametrize("action", ["add", "remove", "calibrate"])
def test_gallery_writes_fail_in_one_line_and_keep_the_gallery(gallery, capsys, monkeypatch, action, err):
    g, faces = gallery
    before = snapshot(g)
    new = make_identity_set(faces.parent / "more", identities=1, per_identity=1, seed=1) / "id_0" / "0.png"
    argv = {
        "add": ["gallery", "add", str(g), str(new), "--identity", "new"],
        "remove": ["gallery", "remove", str(g), "--identity", "id_1"],
        "calibrate": ["gallery", "calibrate", str(g)],
    }[action]
    fail_writes(monkeypatch, err)
    line = one_line(capsys, main(argv), str(g), FIXES[err])
    assert ".tmp" not in line and "nothing was left half-written" in line
    assert snapshot(g) == before  # the old generation, and no orphan files
    monkeypatch.undo()
    assert main(["gallery", "list", str(g), "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["identities"]) == 3


def test_gallery_build_on_a_full_disk_leaves_no_gallery(tiny, tmp_path, capsys, monkeypatch):
    faces = make_identity_set(tmp_path / "faces", identities=2, per_identity=2)
    fail_writes(monkeypatch, errno.ENOSPC, only=".faiss")
    one_line(capsys, main(["gallery", "build", str(faces), "--model", str(tiny[1]), "--out", str(tmp_path / "g")]),
             ".faiss", "No space left on device", "free disk space")  # fmt: skip
    assert not (tmp_path / "g").exists()  # the folder made for it is gone too (writer_lock)


def test_api_gallery_write_error_is_an_oserror_naming_the_file(gallery, monkeypatch):
    from lrface import Gallery

    g, _ = gallery
    api = Gallery.open(g)
    fail_writes(monkeypatch, errno.ENOSPC, only=".sqlite")
    with pytest.raises(OSError) as e:
        api.remove("id_2")
    assert e.value.errno == errno.ENOSPC and str(e.value.filename).endswith(".sqlite")
    monkeypatch.undo()
    assert len(Gallery.open(g)) == 3


def test_embed_out_on_a_read_only_file_system(tiny, tmp_path, capsys, monkeypatch):
    faces = make_identity_set(tmp_path / "faces", identities=1, per_identity=2)
    out = tmp_path / "e.npy"
    fail_writes(monkeypatch, errno.EROFS)
    one_line(capsys, main(["embed", str(faces), "--model", str(tiny[1]), "--out", str(out)]), f"{out}: ", "read-only")
    assert not list(tmp_path.glob("*.npy")) and not list(tmp_path.glob(".*tmp"))


def test_checkpoint_and_metrics_writes_name_their_file_and_keep_the_old_one(tmp_path, monkeypatch):
    from lrface.engine.checkpoint import save_checkpoint
    from lrface.engine.metrics_log import append_metrics

    ck = tmp_path / "checkpoints" / "last.pt"
    save_checkpoint({"epoch": 1}, ck)
    append_metrics(tmp_path, {"epoch": 1, "loss": 0.5})
    before = snapshot(tmp_path)
    fail_writes(monkeypatch, errno.ENOSPC)
    with pytest.raises(OSError) as e:
        save_checkpoint({"epoch": 2, "weights": np.zeros(1000)}, ck)
    assert e.value.filename == str(ck)  # not torch's RuntimeError, not the temporary file
    with pytest.raises(OSError) as e:
        append_metrics(tmp_path, {"epoch": 2, "loss": 0.4})
    assert e.value.filename == str(tmp_path / "metrics.csv")
    assert snapshot(tmp_path) == before


def test_train_on_a_full_disk_at_its_first_checkpoint(tmp_path, capsys, monkeypatch):
    data = make_identity_set(tmp_path / "faces", identities=3, per_identity=4)
    run = tmp_path / "run"
    fail_writes(monkeypatch, errno.ENOSPC, only="last.pt")
    argv = ["train", "--config", "configs/face/orl-smoke.yaml", "--data", str(data), "--out", str(run), "--set",
            "strategy=student-only", "student.arch=resnet_tiny", "train.epochs=1", "train.threads=1"]  # fmt: skip
    one_line(capsys, main(argv), str(run / "checkpoints" / "last.pt"), "free disk space")
    assert not [p for p in run.rglob("*") if ".tmp" in p.name]


def test_tensorboard_writer_thread_error_is_raised_once_without_a_traceback(tmp_path, monkeypatch):
    from lrface.engine.metrics_log import tensorboard_writer, write_scalars

    printed = []  # what would print a thread's traceback
    monkeypatch.setattr(threading, "excepthook", printed.append)
    writer = tensorboard_writer(tmp_path / "tb")
    if writer is None:
        pytest.skip("tensorboard is not installed")
    events = writer._get_file_writer().event_writer._general_file_writer

    def full(data):
        raise OSError(errno.ENOSPC, "No space left on device", events.filename)

    events.write = full
    with pytest.raises(OSError, match="No space left"):
        for epoch in range(3):  # the writer thread fails; a later flush raises it here
            write_scalars(writer, {"epoch": epoch, "loss": 0.5})
    assert not printed


def test_service_enrol_on_a_full_disk_is_503_and_keeps_the_gallery(gallery, capsys, monkeypatch):
    from asgi_helpers import asgi_call
    from service_helpers import png

    from lrface.serve.app import ServeConfig, create_app

    g, _ = gallery
    before = snapshot(g)
    app = create_app(ServeConfig(gallery=str(g)))
    fail_writes(monkeypatch, errno.ENOSPC)
    status, answer = asgi_call(app, "POST", "/identities/Carol", [("image", png(7))])
    assert status == 503 and answer["status"] == 503 and "free disk space" in answer["error"], answer
    log = capsys.readouterr().err.strip().splitlines()
    assert len(log) == 1 and "Traceback" not in log[0] and "internal error" not in log[0], log
    assert snapshot(g) == before
