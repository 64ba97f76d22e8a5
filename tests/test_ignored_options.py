"""Options a command line would silently ignore are refused in one line before any work (scene and video
options on the plain one-face path, frame sampling without a video), a faceless image's text line ends
with its reason, a gallery is never written into a folder of other files, and a gallery whose own model
file is gone says so instead of blaming the packaged default it fell back to."""

from __future__ import annotations

import shutil

import pytest
from serving_helpers import assert_one_line_error, cli

from lrface.commands.scenes import text_line


@pytest.mark.parametrize(
    "extra,needle",
    [
        (["--draw", "out.jpg"], "--draw applies to --all-faces and video probes"),
        (["--min-face", "12"], "--min-face applies to --all-faces and video probes"),
        (["--every", "2"], "--every applies to --all-faces and video probes"),
        (["--all-faces", "--fps", "5"], "--fps samples video frames, and these probes are images"),
        (["--all-faces", "--frame-rate", "30"], "--frame-rate samples video frames"),
    ],
)
def test_identify_refuses_options_it_would_ignore(tiny, faces, tmp_path, capsys, extra, needle):
    gal, probes = faces
    probe = sorted((probes / "Bob").glob("*.png"))[0]
    extra = [str(tmp_path / e) if e.endswith(".jpg") else e for e in extra]
    assert_one_line_error(capsys, cli("identify", probe, "--gallery", gal, "--model", tiny[1], *extra), needle)
    assert not (tmp_path / "out.jpg").exists() and not (gal / ".lrface-gallery").exists()  # before any work


def test_embed_refuses_min_face_without_all_faces(tiny, faces, tmp_path, capsys):
    probe = sorted((faces[1] / "Bob").glob("*.png"))[0]
    rc = cli("embed", probe, "--model", tiny[1], "--min-face", "12", "--out", tmp_path / "e.npy")
    assert_one_line_error(capsys, rc, "--min-face applies to --all-faces")
    assert not (tmp_path / "e.npy").exists()


def test_a_faceless_image_is_its_reason_alone():
    entry = {"identity": None, "score": None, "matches": [], "probe": "x.jpg", "reason": "no face found"}
    assert text_line(entry) == "x.jpg\tno face found"


def test_gallery_build_refuses_a_folder_of_other_files(tiny, faces, tmp_path, capsys):
    gal, _ = faces
    photos = tmp_path / "photos"
    shutil.copytree(gal, photos)
    rc = cli("gallery", "build", gal, "--model", tiny[1], "--out", photos)
    assert_one_line_error(capsys, rc, f"--out {photos} is a folder with other files in it")
    assert sorted(p.name for p in photos.iterdir()) == sorted(p.name for p in gal.iterdir())


def test_a_gallery_whose_model_file_is_gone_says_so(tiny, faces, tmp_path, capsys):
    gal, probes = faces
    model = tmp_path / "m.onnx"
    shutil.copy(tiny[1], model)
    assert cli("gallery", "build", gal, "--model", model, "--out", tmp_path / "g") == 0
    model.unlink()
    probe = sorted((probes / "Bob").glob("*.png"))[0]
    assert_one_line_error(
        capsys, cli("identify", probe, "--gallery", tmp_path / "g"), f"({model}), which is no longer there"
    )
