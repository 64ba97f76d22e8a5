"""One image cannot be two people: a content enrolled as one identity and offered for another is not added, and
the CLI, the API and the service name both identities (before, it was counted as a plain duplicate)."""

from __future__ import annotations

import shutil

from serving_helpers import run_cli

import lrface


def test_build_and_add_name_the_other_identity(tiny, faces, tmp_path, capsys):
    gal, _ = faces
    ann = sorted((gal / "Ann Lee").glob("*.png"))
    folder = shutil.copytree(gal, tmp_path / "people")
    (folder / "Zed").mkdir()
    shutil.copy(ann[0], folder / "Zed" / "z.png")  # Ann's photo filed under Zed too
    rc, out, err = run_cli(capsys, "gallery", "build", folder, "--model", tiny[1], "--out", tmp_path / "g")
    assert rc == 0 and "6 identities, 30 images (1 duplicates of which 1 under another identity" in out
    assert (
        f"warning: not added to 'Zed': {(folder / 'Zed' / 'z.png').resolve()} is already enrolled as 'Ann Lee'" in err
    )

    rc, out, err = run_cli(capsys, "gallery", "add", tmp_path / "g", ann[1], "--identity", "Bob")
    assert rc == 0 and "added 0 images" in out and "1 already there of which 1 under another identity" in out
    assert "not added to 'Bob'" in err and "already enrolled as 'Ann Lee'" in err
    rc, out, err = run_cli(capsys, "gallery", "add", tmp_path / "g", ann[1], "--identity", "Ann Lee")
    assert rc == 0 and "1 already there," in out and "warning" not in err  # the same person again: a duplicate


def test_api_reports_conflicts_within_one_call(tiny, faces, tmp_path):
    gal, _ = faces
    ann = sorted((gal / "Ann Lee").glob("*.png"))
    g = lrface.Gallery.create(tmp_path / "g", lrface.Recognizer(tiny[1]))
    first, second = g.add_many({"Ann Lee": ann[:2], "Twin": [ann[1].read_bytes(), ann[2]]})
    assert (first.added, first.conflicts) == (2, [])
    assert second.added == 1 and second.duplicates == 1 and len(second.conflicts) == 1
    assert second.conflicts[0].endswith("is already enrolled as 'Ann Lee'")
    again = g.add("Twin", [ann[0]])
    assert again.added == 0 and again.conflicts == [f"{ann[0].resolve()} is already enrolled as 'Ann Lee'"]
    assert g.identities() == {"Ann Lee": 2, "Twin": 1}
