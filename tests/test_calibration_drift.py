"""A gallery changed after `lrface gallery calibrate` says so wherever its thresholds are used: the record keeps what
the gallery holds now, identify / verify / the API name the thresholds stale with the fix, and calibrating again
clears it."""

from __future__ import annotations

import json
import shutil

import lrface
from lrface.cli import main

STALE = "stale: the gallery now holds"


def _json(capsys, *args):
    capsys.readouterr()
    assert main([str(a) for a in args]) in (0, 1)
    return json.loads(capsys.readouterr().out)


def test_changes_after_calibration_are_reported_until_recalibrated(tiny, faces, tmp_path, capsys):
    gal, probes = faces
    g = tmp_path / "g"
    five = shutil.copytree(gal, tmp_path / "five", ignore=shutil.ignore_patterns("Bob"))
    bob = sorted((gal / "Bob").glob("*.png"))
    assert main(["gallery", "build", str(five), "--model", str(tiny[1]), "--out", str(g)]) == 0
    assert main(["gallery", "calibrate", str(g), "--far", "0.05"]) == 0
    cal = lrface.Gallery.open(g).calibration
    assert (cal["identities"], cal["samples"]) == (5, 25) and "changed" not in cal
    probe = sorted((probes / "Bob").glob("*.png"))[0]
    assert STALE not in _json(capsys, "identify", probe, "--gallery", g, "--json")[0]["threshold_source"]

    assert main(["gallery", "add", str(g), *map(str, bob), "--identity", "Bob"]) == 0
    cal = lrface.Gallery.open(g).calibration
    assert cal["changed"] == {"identities": 6, "samples": 30} and cal["identities"] == 5
    fix = f"re-run `lrface gallery calibrate {g} --far 0.05`"
    source = _json(capsys, "identify", probe, "--gallery", g, "--json")[0]["threshold_source"]
    assert f"{STALE} 6 identities, 30 samples" in source and fix in source
    verify = _json(capsys, "verify", probe, bob[0], "--gallery", g, "--json")
    assert f"{STALE} 6 identities, 30 samples" in verify["threshold_source"]
    capsys.readouterr()
    assert main(["gallery", "list", str(g)]) == 0
    assert "calibrated at FAR 0.05 on 5 identities (stale" in capsys.readouterr().err

    assert main(["gallery", "calibrate", str(g), "--far", "0.05"]) == 0
    cal = lrface.Gallery.open(g).calibration
    assert (cal["identities"], cal["samples"]) == (6, 30) and "changed" not in cal
    assert STALE not in _json(capsys, "identify", probe, "--gallery", g, "--json")[0]["threshold_source"]

    api = lrface.Gallery.open(g)
    api.remove("Bob")
    assert api.calibration["changed"] == {"identities": 5, "samples": 25}
    assert STALE in api.threshold()[1]


def test_a_removal_and_an_addition_do_not_cancel_out(tiny, faces, tmp_path):
    gal, _ = faces
    g = lrface.Gallery.create(tmp_path / "g", lrface.Recognizer(tiny[1]))
    for name in ("Ann Lee", "Bob", "d"):
        g.add(name, sorted((gal / name).glob("*.png")))
    g.calibrate(0.1)
    g.remove("Ann Lee")
    g.add("e", sorted((gal / "e").glob("*.png")))  # the same counts as at calibration again
    assert g.calibration["changed"] == {"identities": 3, "samples": 15}
    assert STALE in g.threshold()[1]


def test_a_far_too_small_for_the_gallery_is_flagged(tiny, faces, tmp_path, capsys):
    """30 samples give 30 identify impostor scores: FAR 0.01 cannot be measured there (1/30 = 0.033)."""
    gal, probes = faces
    g = tmp_path / "g"
    assert main(["gallery", "build", str(gal), "--model", str(tiny[1]), "--out", str(g)]) == 0
    capsys.readouterr()
    assert main(["gallery", "calibrate", str(g), "--far", "0.01"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("lrface gallery: warning: a FAR of 0.01 is below what 30 identify")
    assert "calibrate at a FAR of 0.033 or above" in err[0]
    probe = sorted((probes / "Bob").glob("*.png"))[0]
    source = _json(capsys, "identify", probe, "--gallery", g, "--json")[0]["threshold_source"]
    assert source.startswith("gallery calibration (FAR 0.01 requested, below the 0.033 that its 30 impostor scores")
    verify = _json(capsys, "verify", probe, probe, "--gallery", g, "--json")  # 375 pairs resolve 0.01
    assert verify["threshold_source"].startswith("gallery calibration (FAR 0.01 on 6 identities")


def test_below_measurable_is_the_one_rule_for_both_warnings():
    """calibrate's warning and the threshold source share it: FAR f needs at least 1/f impostor scores."""
    from lrface.inference.calibrate import below_measurable

    assert below_measurable(0.01, 99) and not below_measurable(0.01, 100)  # 1/FAR scores resolve it exactly
    assert not below_measurable(0.01, 0)  # no scores recorded (an old record): nothing to flag
