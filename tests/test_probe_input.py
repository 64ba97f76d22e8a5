"""Bad probes and model files for `lrface identify`, and which image formats reach a decoder."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from serving_helpers import assert_one_line_error, cli


def _png_header_only(path: Path, w: int, h: int) -> None:
    """A PNG whose header claims w x h pixels (a decompression bomb for the size check)."""
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 10)) + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    "kind,needle",
    [
        ("missing", "file not found"),
        ("empty", "zero-byte"),
        ("text", "not a readable image"),
        ("huge", "megapixels"),
        ("folder-empty", "has no images"),
        ("blank", "one flat colour"),
        ("transparent", "one flat colour"),
    ],
)
def test_bad_probe(tiny, faces, tmp_path, capsys, kind, needle):
    probe = tmp_path / "p.png"
    if kind == "empty":
        probe.write_bytes(b"")
    elif kind == "text":
        probe.write_text("hello")
    elif kind == "huge":
        _png_header_only(probe, 20000, 20000)
    elif kind in ("blank", "transparent"):  # no face: a flat grey image; a face crop with alpha 0 everywhere
        import cv2

        face = cv2.imread(str(faces[1] / "Bob" / "0013.png"), cv2.IMREAD_COLOR)
        alpha = np.zeros(face.shape[:2], np.uint8)
        flat = np.full_like(face, 128)
        cv2.imwrite(str(probe), flat if kind == "blank" else np.dstack([face, alpha]))
    elif kind == "folder-empty":
        probe = tmp_path / "nothing"
        probe.mkdir()
    assert_one_line_error(capsys, cli("identify", probe, "--gallery", faces[0], "--model", tiny[1]), needle)


@pytest.mark.parametrize("kind", ["truncated", "not-onnx", "foreign-onnx"])
def test_bad_model_file(tiny, faces, tmp_path, capsys, kind):
    model = tmp_path / "m.onnx"
    data = Path(tiny[1]).read_bytes()
    if kind == "truncated":
        model.write_bytes(data[: len(data) // 2])
    elif kind == "not-onnx":
        model.write_text("not a model")
    else:
        import onnx

        m = onnx.load_from_string(data)
        del m.metadata_props[:]
        model.write_bytes(m.SerializeToString())
    rc = cli("identify", faces[1] / "Bob" / "0013.png", "--gallery", faces[0], "--model", model)
    assert_one_line_error(capsys, rc, "not" if kind != "foreign-onnx" else "lrface metadata")


def test_only_photo_formats_reach_a_decoder():
    """Untrusted bytes never reach Pillow's EPS plugin (it runs Ghostscript) or other exotic decoders."""
    import io

    from PIL import Image

    from lrface.imageio import BadImage, decode_image

    for fmt in ("EPS", "TGA", "ICO"):
        buf = io.BytesIO()
        Image.new("RGB", (32, 32), (200, 10, 10)).save(buf, fmt)
        with pytest.raises(BadImage) as e:
            decode_image(buf.getvalue(), f"x.{fmt.lower()}")
        assert e.value.reason == "not-an-image", (fmt, e.value)
    for fmt in ("GIF", "TIFF", "JPEG", "BMP", "PPM", "WEBP"):
        buf = io.BytesIO()
        Image.new("RGB", (32, 32), (200, 10, 10)).save(buf, fmt)
        assert decode_image(buf.getvalue(), fmt).shape == (32, 32, 3)


@pytest.mark.parametrize("orientation,turn", [(1, None), (3, 2), (6, -1), (8, 1), (2, "mirror")])
def test_exif_orientation_is_applied(tmp_path, orientation, turn):
    """Phone photos are stored sideways with an EXIF orientation tag: decoded as a viewer shows them."""
    import numpy as np
    from PIL import Image

    from lrface.imageio import decode_image, read_image

    stored = np.zeros((40, 60, 3), np.uint8)
    stored[:10, :20] = (250, 20, 20)  # a red block in the top-left corner, as stored
    path = tmp_path / "photo.jpg"
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(stored).save(path, quality=100, exif=exif)
    with Image.open(path) as img:
        raw = np.asarray(img.convert("RGB"))  # the stored pixels, tag ignored
    want = raw[:, ::-1] if turn == "mirror" else raw if turn is None else np.rot90(raw, turn)
    got = read_image(path)
    assert got.shape == want.shape and np.array_equal(got, want)
    assert np.array_equal(decode_image(path.read_bytes(), "upload"), want)
    red = np.argwhere(got[..., 0] > 200).mean(axis=0)  # where the red block ends up
    corner = {1: (0, 0), 3: (1, 1), 6: (0, 1), 8: (1, 0), 2: (0, 1)}[orientation]
    assert tuple((red > np.array(got.shape[:2]) / 2).astype(int)) == corner


def test_a_blank_image_in_a_folder_is_skipped(tiny, faces, tmp_path, capsys):
    import shutil

    import cv2

    probes = shutil.copytree(faces[1] / "Bob", tmp_path / "mixed")
    cv2.imwrite(str(probes / "blank.png"), np.zeros((20, 20, 3), np.uint8))
    capsys.readouterr()
    assert cli("identify", probes, "--gallery", faces[0], "--model", tiny[1]) == 0
    out = capsys.readouterr()
    assert "blank.png" not in out.out and len(out.out.splitlines()) == 3
    assert "warning: skipped " in out.err and "blank.png: one flat colour" in out.err
