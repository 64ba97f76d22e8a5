"""`--align` on gallery build/add and identify: raw photos go through lrface.prep's MTCNN + template
alignment (the same crop `lrface prepare` makes) before the usual embedding path; and the fast PNG
decoding of `read_image` that identify relies on."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from serving_helpers import tiny_export

from lrface.cli import main
from lrface.data.packed import read_packed_set
from lrface.imageio import BadImage, _fast_png, read_image
from lrface.inference.embedder import Embedder
from tests.conftest import shared_data

skimage_data = pytest.importorskip("skimage.data")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return tiny_export(tmp_path_factory.mktemp("tiny"))[1]


@pytest.fixture(scope="module")
def aligning(tiny):
    """One aligning embedder for the module (MTCNN construction is the slow part)."""
    return Embedder(tiny, align=True)


def write_rgb(path, rgb: np.ndarray):
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.ascontiguousarray(rgb[..., ::-1]))
    return path


def diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def reframed(rgb: np.ndarray, scale: float = 0.6, canvas: tuple[int, int] = (480, 640), at=(150, 60)) -> np.ndarray:
    """The photo shrunk and pasted off-centre on a grey canvas: same face, different framing."""
    small = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    out = np.full((*canvas, 3), 90, np.uint8)
    out[at[1] : at[1] + small.shape[0], at[0] : at[0] + small.shape[1]] = small
    return out


@pytest.fixture()
def photos(tmp_path):
    """Gallery of two people (skimage's astronaut and cameraman), a reframed astronaut probe and a
    photo without a face (skimage's coffee)."""
    astro, camera = skimage_data.astronaut(), np.repeat(skimage_data.camera()[..., None], 3, axis=2)
    gal = tmp_path / "gal"
    write_rgb(gal / "astronaut" / "a.png", astro)
    write_rgb(gal / "cameraman" / "c.png", camera)
    probe = write_rgb(tmp_path / "probes" / "astronaut_reframed.png", reframed(astro))
    coffee = write_rgb(tmp_path / "probes" / "coffee.png", skimage_data.coffee())
    return gal, probe, coffee


def cli(*args) -> int:
    return main([str(a) for a in args])


def last_error(capsys) -> str:
    return capsys.readouterr().err.strip().splitlines()[-1]


def test_aligned_crop_ignores_framing_and_matches_prepare(aligning, photos, tmp_path):
    gal, probe, _ = photos
    original, moved = aligning.load(gal / "astronaut" / "a.png"), aligning.load(probe)
    other = aligning.load(gal / "cameraman" / "c.png")
    # a different framing gives (nearly) the same 16x16 face; a different person does not
    assert diff(original, moved) < 6 and diff(original, other) > 25
    # `lrface prepare` (no degradation) makes exactly the crops that --align embeds
    assert cli("prepare", "folder", gal, "--out", tmp_path / "packed", "--size", "16") == 0
    packed = read_packed_set(tmp_path / "packed")
    images, labels = packed.splits["all"]
    for name, crop in (("astronaut", original), ("cameraman", other)):
        got = images[list(labels).index(packed.manifest["class_names"].index(name))]
        assert np.abs(got.astype(np.int16) - crop).max() <= 1


def test_gallery_and_identify_with_align(tiny, photos, tmp_path, capsys):
    gal, probe, coffee = photos
    write_rgb(gal / "astronaut" / "coffee.png", cv2.imread(str(coffee))[..., ::-1])
    g = tmp_path / "g"
    assert cli("gallery", "build", gal, "--model", tiny, "--out", g, "--align", "--template", "all") == 0
    captured = capsys.readouterr()
    assert "2 aligned images" in captured.out and "1 unreadable or faceless skipped" in captured.out
    warnings = [line for line in captured.err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "coffee.png" in warnings[0] and "no face" in warnings[0]

    # the reframed astronaut is found as the astronaut, nearly as close as the gallery photo itself
    assert cli("identify", probe, coffee, "--gallery", g, "--align", "--json") == 0
    captured = capsys.readouterr()
    res = json.loads(captured.out)
    assert [r["probe"] for r in res] == [str(probe)]  # the faceless probe is skipped, with a warning
    assert "coffee.png" in captured.err and "no face" in captured.err
    assert res[0]["identity"] == "astronaut" and res[0]["score"] > 0.95
    assert res[0]["matches"][1]["identity"] == "cameraman" and res[0]["matches"][1]["score"] < 0.85

    # the metadata records which samples were aligned; a plain add is recorded as not aligned
    assert cli("gallery", "add", g, gal / "astronaut" / "a.png", probe, "--identity", "astronaut") == 0
    assert "added 1 image to" in capsys.readouterr().out
    assert cli("gallery", "list", g, "--json") == 0
    listing = json.loads(capsys.readouterr().out)
    assert listing["aligned_samples"] == 2 and sum(r["samples"] for r in listing["identities"]) == 3

    # nothing usable at all: a one-line error, and the gallery is unchanged
    assert cli("gallery", "add", g, coffee, "--identity", "coffee", "--align") == 2
    assert "none of the 1 images could be used" in last_error(capsys)
    assert cli("identify", coffee, "--gallery", g, "--align") == 2
    assert "no usable probe images" in last_error(capsys)
    assert cli("gallery", "list", g, "--json") == 0
    assert "coffee" not in {r["identity"] for r in json.loads(capsys.readouterr().out)["identities"]}


def test_build_with_align_and_no_face_anywhere_is_an_error(tiny, photos, tmp_path, capsys):
    _, _, coffee = photos
    write_rgb(tmp_path / "nofaces" / "mug" / "coffee.png", cv2.imread(str(coffee))[..., ::-1])
    assert cli("gallery", "build", tmp_path / "nofaces", "--model", tiny, "--out", tmp_path / "g", "--align") == 2
    assert "none of the 1 images could be used (unreadable or no face found)" in last_error(capsys)


def test_celeba_wild_photos(tiny, tmp_path, capsys):
    """Real photos: identify --align crops each photo exactly as gallery build --align did (every sample
    enrolled with --template all, so the photo's own sample scores 1.0); a different crop fails it."""
    photos = shared_data("celeba-wild-dev") / "photos"
    ids = sorted(p.name for p in photos.iterdir() if p.is_dir())[:8]
    gal = tmp_path / "gal"
    for name in ids:
        (gal / name).mkdir(parents=True)
        for f in (photos / name).iterdir():
            (gal / name / f.name).symlink_to(f)
    g = tmp_path / "g"
    assert cli("gallery", "build", gal, "--model", tiny, "--out", g, "--align", "--template", "all") == 0
    capsys.readouterr()
    assert cli("gallery", "list", g, "--json") == 0
    listing = json.loads(capsys.readouterr().out)
    enrolled = {r["identity"] for r in listing["identities"]}
    assert len(enrolled) >= 6 and listing["aligned_samples"] == sum(r["samples"] for r in listing["identities"])
    assert cli("identify", gal, "--gallery", g, "--align", "--json") == 0
    res = json.loads(capsys.readouterr().out)
    assert {r["probe"].split("/")[-2] for r in res} == enrolled
    for r in res:
        assert r["matches"][0]["identity"] == r["probe"].split("/")[-2] and r["matches"][0]["score"] > 0.999, r


def pillow_rgb(path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def test_read_image_fast_png_gives_pillows_pixels(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    arrays = {
        "rgb_photo": skimage_data.astronaut(),
        "grey_photo": skimage_data.camera(),
        "rgb_noise": rng.integers(0, 256, (16, 16, 3), dtype=np.uint8),
        "grey_odd": rng.integers(0, 256, (7, 13), dtype=np.uint8),
    }
    for name, arr in arrays.items():
        for level in (0, 9):
            f = tmp_path / f"{name}_{level}.png"
            Image.fromarray(arr).save(f, compress_level=level)
            assert _fast_png(f.read_bytes()) is not None, f  # the OpenCV path is the one compared
            got, want = read_image(f), pillow_rgb(f)
            assert got.dtype == np.uint8 and got.flags.c_contiguous and np.array_equal(got, want), f
    # kinds where OpenCV would differ from Pillow (alpha, 16 bit, palette) still decode through Pillow
    rgba = np.dstack([arrays["rgb_noise"], np.full((16, 16), 100, np.uint8)])
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    Image.fromarray(arrays["grey_odd"].astype(np.uint16) * 200).save(tmp_path / "grey16.png")
    Image.fromarray(arrays["rgb_noise"]).convert("P").save(tmp_path / "palette.png")
    for name in ("rgba", "grey16", "palette"):
        assert _fast_png((tmp_path / f"{name}.png").read_bytes()) is None
    assert read_image(tmp_path / "rgba.png")[0, 0].tolist() != rgba[0, 0, :3].tolist()  # composited on white
    # damaged PNGs fail exactly as before: truncated, or a flipped byte inside the image data
    data = (tmp_path / "rgb_photo_9.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    (tmp_path / "flip.png").write_bytes(
        data[: len(data) // 2] + bytes([data[len(data) // 2] ^ 0xFF]) + data[len(data) // 2 + 1 :]
    )
    for name in ("cut", "flip"):
        with pytest.raises(BadImage) as e:
            read_image(tmp_path / f"{name}.png")
        assert e.value.reason == "corrupt"


def test_service_with_align_reads_raw_photos(tiny, photos, tmp_path):
    """`lrface serve --align`: /identify, /verify and enrolment detect and align like the CLI's --align."""
    from asgi_helpers import asgi_call

    from lrface.serve.app import ServeConfig, create_app

    gal, probe, coffee = photos
    g = tmp_path / "g"
    assert cli("gallery", "build", gal, "--model", tiny, "--out", g, "--align") == 0
    app = create_app(ServeConfig(gallery=str(g), align=True))
    assert asgi_call(app, "GET", "/health")[1]["align"] is True
    status, body = asgi_call(app, "POST", "/identify", [("image", probe.read_bytes())])
    assert status == 200 and body["identity"] == "astronaut" and body["score"] > 0.95
    status, body = asgi_call(app, "POST", "/identify", [("image", coffee.read_bytes())])
    assert status == 400 and "no face" in body["error"]
    photo = (gal / "astronaut" / "a.png").read_bytes()
    status, body = asgi_call(app, "POST", "/verify", [("a", photo), ("b", probe.read_bytes()), ("threshold", "0.9")])
    assert status == 200 and body["same"] is True, body
    status, body = asgi_call(app, "POST", "/identities/astro2", [("image", probe.read_bytes())])
    assert status == 200 and body["added"] == 1
    status, body = asgi_call(app, "POST", "/identify", [("image", photo)])
    assert status == 200 and {m["identity"] for m in body["matches"][:2]} == {"astronaut", "astro2"}
