"""Identity names that differ only by case, Unicode width or spacing are one person: a new such name is
refused beside an enrolled one, and stray or non-space whitespace in a new name is refused with the fix;
names already stored keep working."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from lrface.errors import UserError
from lrface.inference.folders import (
    check_identity_name,
    identity_key,
    identity_keys,
    name_clash,
    scan_identity_folder,
)

FULL_WIDTH_ANN = "\uff21\uff2e\uff2e"  # "ＡＮＮ"


def test_case_width_and_spacing_share_one_key():
    assert {identity_key(n) for n in ("Ann", "ann", "Ann ", FULL_WIDTH_ANN, "Ann\xa0", " ANN\u3000")} == {"ann"}
    assert identity_key("Ann  Lee") == identity_key("ann lee") != identity_key("Annlee")
    assert identity_key("Ann") != identity_key("Anne")


@pytest.mark.parametrize("new", ["ann", "Ann ", FULL_WIDTH_ANN, "Ann\xa0", "ANN"])
def test_a_new_name_equal_but_for_case_width_or_spacing_is_refused(new):
    for existing in (["Bob", "Ann"], identity_keys(["Bob", "Ann"])):
        problem = name_clash(check_identity_name(new), existing)
        assert problem == (
            f"identity name {new!r} differs from the enrolled 'Ann' only by case, width or spacing; "
            "use 'Ann' to add to it, or a name that differs in its letters"
        )


def test_enrolled_and_distinct_names_are_fine():
    assert name_clash("Ann", ["Ann", "Bob"]) is None
    assert name_clash("Anne", ["Ann", "Bob"]) is None
    assert name_clash("Ann Lee", []) is None
    assert name_clash(FULL_WIDTH_ANN, []) is None  # a full-width name of its own is a name like any other
    # a gallery written before the check may hold "Ann " beside "Ann": both stay usable, a third is refused
    legacy = ["Ann", "Ann "]
    assert check_identity_name("Ann ") == "Ann "  # lookups (remove, the service's /identities/NAME) still work
    assert name_clash("Ann ", legacy) is None and name_clash("Ann", legacy) is None
    assert "the enrolled 'Ann'" in name_clash("ann", legacy)


def test_a_new_name_with_stray_or_non_space_whitespace_is_refused_with_the_fix():
    assert name_clash(" Bob ", ["Ann"]) == "identity name ' Bob ' starts or ends with whitespace; use 'Bob'"
    assert name_clash("Bob\u3000", []) == "identity name 'Bob\\u3000' starts or ends with whitespace; use 'Bob'"
    assert name_clash("Bob\xa0Lee", []) == (
        "identity name 'Bob\\xa0Lee' holds U+00A0 (not a plain space); use 'Bob Lee'"
    )


def _folder(root, *names):
    for n in names:
        (root / n).mkdir(parents=True)
        Image.fromarray(np.full((20, 20, 3), 50, np.uint8)).save(root / n / "1.png")
    return root


@pytest.mark.parametrize(
    "first,twin", [("Ann", "ann"), ("Ann", "Ann "), ("Ann", FULL_WIDTH_ANN), ("Jos\u00e9", "Jose\u0301")]
)
def test_identity_sub_folders_that_clash_are_refused_naming_both(tmp_path, first, twin):
    root = _folder(tmp_path / "faces", first, twin, "Bob")
    with pytest.raises(UserError) as e:
        scan_identity_folder(root)
    first, second = sorted([first, twin])
    assert str(e.value) == (
        f"{root}: sub-folders {first!r} and {second!r} differ only by case, width, spacing or Unicode form and would be one "
        "person under two names; merge them into one folder or rename one"
    )


def test_distinct_sub_folders_scan_as_before(tmp_path):
    assert list(scan_identity_folder(_folder(tmp_path / "faces", "Ann", "Anne", "ann_2"))) == ["Ann", "Anne", "ann_2"]


def test_galleries_refuse_a_clashing_new_name_and_stay_unchanged(tiny, faces, tmp_path):
    import lrface

    gal, _ = faces
    bob = sorted((gal / "Bob").glob("*.png"))
    g = lrface.Gallery.create(tmp_path / "g", lrface.Recognizer(tiny[1]))
    g.add("Bob", bob[:2])
    for name in ("bob", "Bob ", "ＢＯＢ", "Bob\xa0"):
        with pytest.raises(UserError, match="'Bob'"):
            g.add(name, bob[2:3])
    with pytest.raises(UserError, match="differs from the enrolled 'Ann'"):
        g.add_many({"Ann": bob[2:3], "ann": bob[3:4]})  # within one call
    assert g.identities() == {"Bob": 2}
    assert g.add("Bob", bob[2:3]).added == 1  # the enrolled name itself
    g.remove("Bob")
    assert g.add("bob", bob[3:4]).added == 1  # free again once 'Bob' is gone


@pytest.mark.parametrize("name", ["unknown", "Unknown", "UNKNOWN ", "ｕｎｋｎｏｗｎ"])
def test_unknown_is_refused_as_a_new_name(name):
    """'unknown' is what a face below the threshold is answered: a person of that name would be told apart
    from a stranger by nothing."""
    assert "answer given for a face below the threshold" in name_clash(name, [])


def test_names_equal_after_nfc_are_one_identity_in_add_many(tiny, faces, tmp_path):
    import lrface

    gal, _ = faces
    bob = sorted((gal / "Bob").glob("*.png"))
    g = lrface.Gallery.create(tmp_path / "g", lrface.Recognizer(tiny[1]))
    nfc, nfd = "Jos\u00e9", "Jose\u0301"  # one name as macOS and Linux spell it
    (done,) = g.add_many({nfc: bob[:1], nfd: bob[1:3]})
    assert (done.identity, done.added) == (nfc, 3) and g.identities() == {nfc: 3}
    with pytest.raises(UserError, match="answer given for a face below the threshold"):
        g.add_many({"Ann": bob[3:4], "unknown": bob[4:5]})  # refused before any image is embedded
    assert g.identities() == {nfc: 3}
