"""Sweep cases on the Python API (Recognizer, Gallery): bad input must raise UserError."""

from __future__ import annotations

import shutil

import numpy as np

from .fixtures import scratch
from .runner import ANY, OK, Sweep


def api_cases(s: Sweep, F):
    from lrface import Gallery, Recognizer

    good, imgs = F["img"]["good.png"], F["img"]
    rec = Recognizer()
    s.api("api Recognizer(missing)", lambda: Recognizer(F["w"] / "nope.onnx"))
    s.api("api Recognizer(dir)", lambda: Recognizer(F["empty"]))
    s.api("api Recognizer(text)", lambda: Recognizer(F["w"] / "fake.onnx"))
    s.api("api Recognizer(123)", lambda: Recognizer(123))
    s.api("api Recognizer(threads=-1)", lambda: Recognizer(threads=-1))
    for label, img in (
        ("missing path", imgs["missing.png"]),
        ("zero bytes", b""),
        ("text bytes", b"hello"),
        ("empty array", np.zeros((0, 0, 3), np.uint8)),
        ("float array", np.zeros((16, 16, 3))),
        ("2-D float array", np.zeros((16, 16))),
        ("4-channel", np.zeros((16, 16, 4), np.uint8)),
        ("5-D array", np.zeros((1, 2, 16, 16, 3), np.uint8)),
        ("int64 array", np.zeros((16, 16, 3), np.int64)),
        ("None", None),
        ("int", 7),
        ("dir", F["empty"]),
        ("1x1 array", np.zeros((1, 1, 3), np.uint8)),
        ("nan float array", np.full((16, 16, 3), np.nan, np.float32)),
        ("bomb", imgs["bomb.png"]),
    ):
        s.api(f"api embed {label}", lambda img=img: rec.embed(img))
    s.api("api embed []", lambda: rec.embed([]), ANY)
    s.api("api embed grey uint8 2-D", lambda: rec.embed(np.full((32, 32), 128, np.uint8)), ANY)
    s.api("api verify threshold nan", lambda: rec.verify(good, good, threshold=float("nan")))
    s.api("api verify threshold 'x'", lambda: rec.verify(good, good, threshold="x"))
    s.api("api Gallery.open(missing)", lambda: Gallery.open(F["w"] / "nope"))
    s.api("api Gallery.open(file)", lambda: Gallery.open(F["afile"]))
    s.api("api Gallery.create(existing)", lambda: Gallery.create(F["g"], rec))
    gal = Gallery.create(scratch(F, "api-g"), rec)
    s.api("api add good", lambda: gal.add("Ann", [good]), ANY)
    s.api("api add empty name", lambda: gal.add("", [good]))
    s.api("api add name None", lambda: gal.add(None, [good]))
    s.api("api add name 10000 chars", lambda: gal.add("x" * 10_000, [good]))
    s.api("api add no images", lambda: gal.add("x", []))
    s.api("api add a str not a list", lambda: gal.add("y", str(good)), ANY)
    s.api("api add bad image", lambda: gal.add("z", [b"junk"]))
    s.api("api remove unknown", lambda: gal.remove("Nobody"))
    s.api("api calibrate far 2", lambda: gal.calibrate(far=2))
    s.api("api calibrate far nan", lambda: gal.calibrate(far=float("nan")))
    s.api("api calibrate 1 identity", lambda: gal.calibrate(), ANY)
    s.api("api identify top_k 0", lambda: rec.identify([good], gal, top_k=0))
    s.api("api identify top_k -1", lambda: rec.identify([good], gal, top_k=-1))
    s.api("api identify top_k 1.5", lambda: rec.identify([good], gal, top_k=1.5))
    s.api("api identify threshold inf", lambda: rec.identify([good], gal, threshold=float("inf")))
    s.api("api identify gallery=str missing", lambda: rec.identify([good], str(F["w"] / "nope")))
    s.api("api identify other model", lambda: Recognizer(F["tiny"]).identify([good], Gallery.open(F["g"])))
    s.api("api create template 'median'", lambda: Gallery.create(scratch(F, "api-t"), rec, template="median"))
    s.api("api create index 'lsh'", lambda: Gallery.create(scratch(F, "api-i"), rec, index="lsh"))
    s.api("api create below a file", lambda: Gallery.create(F["afile"] / "g", rec))
    s.api("api create in a non-empty dir", lambda: Gallery.create(F["faces"], rec))
    s.api("api calibrate far '0.1'", lambda: gal.calibrate(far="0.1"), ANY)
    s.api("api identify []", lambda: rec.identify([], gal))
    # an uncalibrated gallery of a packaged model falls back to the card's FAR 1e-3 threshold (issue 21)
    s.api("api verify uncalibrated gallery", lambda: rec.verify(good, good, gallery=gal), OK)
    s.api("api verify tiny model, no threshold", lambda: Recognizer(F["tiny"]).verify(good, good))
    s.api("api add a list of None", lambda: gal.add("w", [None]))
    s.api("api Gallery.open(123)", lambda: Gallery.open(123))
    gone = Gallery.create(scratch(F, "api-gone"), rec)
    gone.add("Ann", [good])
    shutil.rmtree(gone.path)
    s.api("api identities of a deleted gallery", lambda: gone.identities(), ANY)
    s.api("api identify a deleted gallery", lambda: rec.identify([good], gone), ANY)
    s.api("api add to a deleted gallery", lambda: gone.add("Bob", [imgs["good.jpg"]]))
    s.api("api remove from a deleted gallery", lambda: gone.remove("Ann"))
    s.api("api identify empty gallery", lambda: rec.identify([good], Gallery.create(scratch(F, "api-empty"), rec)), ANY)
