"""Faults handled once, in the CLI's mechanism: --out of the wrong kind or unwritable (checked before any
work), a full disk while writing, non-finite numbers. One line, exit 2, no traceback, nothing half-written."""

from __future__ import annotations

import errno
import os

import pytest
from PIL import Image

from lrface.cli import main
from tests.conftest import make_identity_set

TRAIN = [
    "train",
    "--config",
    "configs/face/orl-smoke.yaml",
    "--set",
    "strategy=student-only",
    "--set",
    "student.arch=resnet_tiny",
    "--set",
    "train.epochs=1",
    "--set",
    "train.threads=1",
]


def one_line(capsys, rc, *needles):
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "Traceback" not in err[0], err
    for n in needles:
        assert n in err[0], err[0]


@pytest.fixture
def paths(tmp_path):
    (tmp_path / "afile").write_text("mine")
    (tmp_path / "adir").mkdir()
    return tmp_path


@pytest.mark.parametrize(
    "argv,target",
    [
        (TRAIN + ["--data", "faces", "--out"], "afile"),
        (["prepare", "folder", "faces", "--out"], "afile"),
        (["benchmark", "--data", "faces", "--out"], "afile"),
        (["evaluate", "--packed", "p", "--out"], "afile"),
        (["gallery", "build", "faces", "--out"], "afile"),
        (["export", "--onnx", "run", "--out"], "adir"),
        (["embed", "x.png", "--out"], "adir"),
    ],
)
def test_out_of_the_wrong_kind_is_refused_before_work(paths, capsys, argv, target):
    one_line(
        capsys,
        main(argv + [str(paths / target)]),
        f"--out {paths / target}",
        "is a file, not a folder" if target == "afile" else "is a folder",
    )
    assert (paths / "afile").read_text() == "mine" and not any((paths / "adir").iterdir())


def test_out_below_a_file_or_in_an_unwritable_folder(paths, capsys, monkeypatch):
    one_line(capsys, main(TRAIN + ["--data", "faces", "--out", str(paths / "afile" / "run")]), "is a file")
    monkeypatch.setattr(os, "access", lambda p, mode: os.fspath(p) != os.fspath(paths / "adir"))
    one_line(capsys, main(["gallery", "build", "faces", "--out", str(paths / "adir" / "g")]), "not writable")


def test_a_full_disk_while_writing_is_one_line_and_leaves_nothing_half_written(tmp_path, capsys, monkeypatch):
    data = make_identity_set(tmp_path / "faces", identities=3, per_identity=4)

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    one_line(
        capsys,
        main(TRAIN + ["--data", str(data), "--out", str(tmp_path / "run")]),
        "No space left on device",
        "free disk space",
    )
    assert not [p for p in (tmp_path / "run").rglob("*") if p.is_file()]


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["prepare", "folder", "faces", "--out", "o", "--blur", "inf"], "--blur inf: not a finite number"),
        (["prepare", "folder", "faces", "--out", "o", "--noise", "nan"], "--noise nan: not a finite number"),
        (["identify", "x.png", "--gallery", "g", "--threshold", "nan"], "--threshold nan: not a finite number"),
        (["evaluate", "--packed", "p", "--max-rank", "0", "--out", "o"], "--max-rank 0"),
        (["benchmark", "--data", "faces", "--out", "o", "--methods", ""], "--methods '' names no method"),
    ],
)
def test_meaningless_numbers_and_empty_lists_are_refused(tmp_path, capsys, monkeypatch, argv, needle):
    monkeypatch.chdir(tmp_path)
    one_line(capsys, main(argv), needle)
    assert not (tmp_path / "o").exists()


def test_a_read_only_gallery_is_one_line_and_unchanged(tmp_path, capsys, monkeypatch):
    from tests.serving_helpers import generated_faces, tiny_export, write_identity_folder

    _, onnx = tiny_export(tmp_path / "model")
    images, labels = generated_faces(n_ids=4, per_id=3)
    faces = write_identity_folder(tmp_path / "faces", images[labels < 3], labels[labels < 3], ["a", "b", "c"])
    new = write_identity_folder(tmp_path / "new", images[labels == 3], labels[labels == 3] * 0, ["d"])
    gallery = tmp_path / "g"
    assert main(["gallery", "build", str(faces), "--model", str(onnx), "--out", str(gallery)]) == 0
    before = sorted((p.name, p.stat().st_size) for p in gallery.iterdir())
    capsys.readouterr()

    def read_only(*a, **k):
        raise OSError(errno.EROFS, "Read-only file system", str(gallery))

    monkeypatch.setattr(os, "replace", read_only)
    one_line(
        capsys,
        main(["gallery", "add", str(gallery), str(new / "d"), "--identity", "d"]),
        "Read-only file system",
        "write somewhere else",
    )
    assert sorted((p.name, p.stat().st_size) for p in gallery.iterdir()) == before


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["identify", "x.png", "--gallery", "g", "--top-k", "abc"], "argument --top-k: invalid int value: 'abc'"),
        (["gallery", "build", "f", "--index", "lsh"], "argument --index: invalid choice: 'lsh'"),
        (["embed", "x.png", "--out", "v.npy", "--json"], "not allowed with argument --out"),
        (["gallery", "add", "g", "--identity", "x"], "the following arguments are required: PATH"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["models", "extra"], "unrecognized arguments: extra"),
        (["verify", "a.png", "b.png", "--threshold", "-inf"], "as --option=VALUE"),
    ],
)
def test_usage_errors_are_one_line(capsys, argv, needle):
    with pytest.raises(SystemExit) as e:
        main(argv)
    one_line(capsys, e.value.code, needle, "--help`")


def test_control_characters_in_a_message_stay_on_one_line(tmp_path, capsys):
    bad = tmp_path / "bad\nname.jpg"
    bad.write_text("not an image")
    one_line(capsys, main(["embed", str(bad), "--json"]), "bad\\nname.jpg: not a readable image")


def test_a_gallery_add_of_only_bad_files_is_one_line_naming_the_first(tiny, faces, tmp_path, capsys):
    gal, _ = faces
    g = tmp_path / "g"
    assert main(["gallery", "build", str(gal), "--model", str(tiny[1]), "--out", str(g)]) == 0
    (tmp_path / "zero.jpg").write_bytes(b"")
    capsys.readouterr()
    one_line(
        capsys,
        main(["gallery", "add", str(g), str(tmp_path / "zero.jpg"), "--identity", "x"]),
        "none of the 1 images could be used",
        "zero.jpg: zero-byte file",
    )


def test_a_gallery_without_its_pointer_is_named_damaged_not_read_as_a_folder(tiny, faces, tmp_path, capsys):
    gal, probes = faces
    g = tmp_path / "g"
    assert main(["gallery", "build", str(gal), "--model", str(tiny[1]), "--out", str(g)]) == 0
    (g / "gallery.json").unlink()
    capsys.readouterr()
    probe = str(next(probes.rglob("*.png")))
    one_line(capsys, main(["identify", probe, "--gallery", str(g)]), "gallery.json is missing", "--force")
    one_line(capsys, main(["gallery", "list", str(g)]), "gallery.json is missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    one_line(
        capsys, main(["identify", probe, "--gallery", str(empty), "--model", str(tiny[1])]), "no identity sub-folders"
    )
    assert not any(empty.iterdir())  # refused before a cache folder is made in it


def test_an_empty_service_token_is_refused_not_read_as_no_token(capsys, monkeypatch):
    pytest.importorskip("uvicorn")
    one_line(capsys, main(["serve", "--gallery", "g", "--token", ""]), "--token (or $LRFACE_TOKEN) is empty")
    monkeypatch.setenv("LRFACE_TOKEN", "  ")
    one_line(capsys, main(["serve", "--gallery", "g"]), "is empty")


def test_a_pipe_or_device_where_a_file_is_expected_is_refused_not_waited_on(tmp_path, capsys):
    """Opening a FIFO blocks and /dev/zero never ends: both are refused from their stat, before any read."""
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    one_line(capsys, main(["embed", str(fifo), "--json"]), "not a regular file")
    pairs = tmp_path / "pairs.txt"
    os.mkfifo(pairs)
    one_line(capsys, main(["evaluate", "--pairs", str(pairs), "--images", str(tmp_path)]), "not a regular file")
    from lrface.imageio import BadImage, read_image

    with pytest.raises(BadImage, match="not a regular file"):
        read_image("/dev/zero")


def test_a_file_out_must_have_its_suffix_and_never_replaces_an_input_or_a_pipe(tiny, tmp_path, capsys):
    """`export --out RUN/checkpoints/best.pt` overwrote the checkpoint it reads; an --out that is a named pipe
    was replaced by a regular file. Both are refused before any work, by the CLI's --out check."""
    run, _ = tiny
    best = run / "checkpoints" / "best.pt"
    before = best.read_bytes()
    one_line(capsys, main(["export", "--onnx", str(run), "--out", str(best)]), "must end in .onnx")
    assert best.read_bytes() == before
    pipe = tmp_path / "v.npy"
    os.mkfifo(pipe)
    one_line(capsys, main(["embed", "x.png", "--out", str(pipe)]), "is a device, pipe or socket")
    assert pipe.is_fifo()


def test_an_empty_benchmark_method_list_is_refused_not_read_as_all_methods(tmp_path, capsys):
    plan = tmp_path / "plan.yaml"
    plan.write_text("config: x.yaml\nmethods: []\n")
    one_line(capsys, main(["benchmark", "--plan", str(plan), "--out", str(tmp_path / "b")]), "methods is empty")
    assert not (tmp_path / "b").exists()


def test_gif_and_tiff_are_read_by_every_command_as_verify_reads_them(tiny, tmp_path, capsys):
    """verify decoded a .gif/.tiff while identify, embed and gallery add refused it by its name."""
    import json

    import numpy as np
    from PIL import Image

    face = Image.fromarray(np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8))
    face.save(tmp_path / "a.gif", save_all=True, append_images=[face.rotate(90)])
    face.save(tmp_path / "b.tiff", save_all=True, append_images=[face.rotate(90)])
    capsys.readouterr()
    assert main(["embed", str(tmp_path / "a.gif"), str(tmp_path), "--model", str(tiny[1]), "--json"]) == 0
    assert [r["image"].rsplit("/", 1)[1] for r in json.loads(capsys.readouterr().out)] == ["a.gif", "a.gif", "b.tiff"]


@pytest.mark.parametrize(
    "plan,extra,needle",
    [
        (b"methods: [\n", [], "plan {plan}: not valid YAML"),
        (b"\xff\xfe", [], "not a text (UTF-8) YAML file"),
        (b"- ekd\n", [], "expected a mapping of sections"),
        (b"methods: [ekd]\n", ["--ablation", "x:a={"], "--ablation 'x:a={': the value is not valid YAML"),
    ],
)
def test_a_broken_benchmark_plan_or_ablation_is_one_line(tmp_path, capsys, plan, extra, needle):
    """An invalid or binary plan, and an --ablation value that is not YAML, were yaml / UnicodeDecodeError tracebacks."""
    path = tmp_path / "plan.yaml"
    path.write_bytes(plan)
    rc = main(["benchmark", "--plan", str(path), "--out", str(tmp_path / "b"), *extra])
    one_line(capsys, rc, needle.replace("{plan}", str(path)))
    assert not (tmp_path / "b").exists()


def test_a_cache_that_is_a_file_is_named_before_any_work(tmp_path, capsys, monkeypatch):
    """$LRFACE_CACHE pointing at a file failed only when the aligned pairs were written, naming a .work path."""
    from tests.serving_helpers import generated_faces

    images, _ = generated_faces(n_ids=1, per_id=3)
    (tmp_path / "lfw" / "Bob").mkdir(parents=True)
    for i, im in enumerate(images, 1):
        Image.fromarray(im).save(tmp_path / "lfw" / "Bob" / f"Bob_{i:04d}.jpg")
    (tmp_path / "pairs.txt").write_text("1 1\nBob 1 2\nBob 1 Bob 3\n")
    (tmp_path / "afile").write_text("x")
    monkeypatch.setenv("LRFACE_CACHE", str(tmp_path / "afile"))
    argv = ["evaluate", "--pairs", str(tmp_path / "pairs.txt"), "--images", str(tmp_path / "lfw")]
    one_line(capsys, main(argv + ["--out", str(tmp_path / "ev")]), "$LRFACE_CACHE", "is a file")


def test_evaluate_packed_on_a_one_split_set_names_the_prepare_flag(tmp_path, capsys):
    import numpy as np

    from lrface.data.packed import write_packed_set

    images, labels = np.zeros((4, 16, 16, 3), np.uint8), np.array([0, 0, 1, 1])
    packed = write_packed_set(tmp_path / "p", {"all": (images, labels)}, ["a", "b"], items=[])
    one_line(capsys, main(["evaluate", "--packed", str(packed)]), "(has all)", "--split-fraction", "--gallery")
