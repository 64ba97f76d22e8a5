"""Reading user images safely into uint8 RGB arrays (torch-free).

8-bit grey or RGB PNGs, complete and within the pixel limit, are decoded with OpenCV (several times
faster on small images, same pixels); everything else, and every error, goes through Pillow.
"""

from __future__ import annotations

import io
import os
import stat
import struct
import zlib
from pathlib import Path

import numpy as np

from .errors import BadImage  # BadImage: importable from here as before

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".pgm", ".webp", ".gif", ".tif", ".tiff")
IMAGE_TYPES = ", ".join(e[1:] for e in IMAGE_EXTENSIONS)  # for messages
# the Pillow decoders bytes may reach (uploads are untrusted): photo formats only, never EPS (runs Ghostscript),
# PSD, ICO, FITS or the other exotic plugins; a GIF or multi-page TIFF is read at its first frame
DECODE_FORMATS = ("JPEG", "PNG", "BMP", "PPM", "WEBP", "GIF", "TIFF")
MAX_PIXELS = 50_000_000
MAX_FILE_BYTES = 1 << 30
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"


def is_image_file(path: str | os.PathLike) -> bool:
    return os.path.splitext(path)[1].lower() in IMAGE_EXTENSIONS


def _fast_png(data: bytes, max_pixels: int = MAX_PIXELS) -> np.ndarray | None:
    """OpenCV decode of a complete 8-bit grey (type 0) or RGB (type 2) PNG, where it gives Pillow's
    pixels exactly; None for anything else, including any error (left to Pillow)."""
    if len(data) < 45 or not data.startswith(_PNG_SIGNATURE) or data[12:16] != b"IHDR" or not data.endswith(_PNG_END):
        return None
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    if depth != 8 or colour not in (0, 2) or not 0 < width * height <= max_pixels:
        return None
    if not _png_is_clean(data, width, height, 1 if colour == 0 else 3):
        return None
    import cv2

    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    return None if bgr is None else cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


# ancillary PNG chunks that libpng reads without a word; any other (iCCP, sPLT, ...) goes to Pillow
_QUIET_CHUNKS = {
    b"IHDR",
    b"IDAT",
    b"IEND",
    b"pHYs",
    b"tEXt",
    b"zTXt",
    b"iTXt",
    b"tIME",
    b"sRGB",
    b"gAMA",
    b"cHRM",
    b"bKGD",
}


def _png_is_clean(data: bytes, width: int, height: int, channels: int) -> bool:
    """Whether libpng will decode ``data`` silently: every chunk's CRC holds, no chunk it warns about, and
    the image data inflates to exactly the pixel rows. Otherwise Pillow decodes it (libpng writes its
    warnings and errors straight to the process's stderr, which would break the one-line rule)."""
    pos, idat = 8, []
    while pos + 12 <= len(data):
        n, kind = int.from_bytes(data[pos : pos + 4], "big"), data[pos + 4 : pos + 8]
        end = pos + 12 + n
        if end > len(data) or kind not in _QUIET_CHUNKS:
            return False
        body = data[pos + 8 : pos + 8 + n]
        if zlib.crc32(kind + body) != int.from_bytes(data[end - 4 : end], "big"):
            return False
        if kind == b"IDAT":
            idat.append(body)
        if kind == b"IEND":
            break
        pos = end
    try:
        return len(zlib.decompress(b"".join(idat))) == height * (1 + width * channels)
    except zlib.error:
        return False


def _to_rgb(img) -> np.ndarray:
    from PIL import Image

    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.uint32)
        arr = (arr >> 8).clip(0, 255).astype(np.uint8) if arr.max() > 255 else arr.astype(np.uint8)
        return np.repeat(arr[..., None], 3, axis=2)
    if img.mode in ("RGBA", "LA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(bg, rgba).convert("RGB"))
    return np.asarray(img.convert("RGB"))


DECODE_VERSION = 2  # in the keys of caches built from decoded images; 2: EXIF orientation applied


def _upright(img):
    """The image as viewers show it: rotated / mirrored by its EXIF orientation tag (phone photos are stored
    sideways with the tag). A tag Pillow cannot read leaves the pixels as stored, as viewers do."""
    from PIL import ImageOps

    try:
        return ImageOps.exif_transpose(img)
    except (OSError, SyntaxError, ValueError, TypeError, KeyError):
        return img


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Decode any common image to uint8 RGB H x W x 3; raise BadImage naming what is wrong."""
    path = Path(path)
    try:  # one stat + open + read per file (folders of thousands of tiny probes)
        mode = os.stat(path).st_mode
        if not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):  # a FIFO would block, /dev/zero never end
            raise BadImage(path, "not-a-file", "not a regular file (a device, pipe or socket); pass an image file")
        with open(path, "rb") as fh:
            if os.fstat(fh.fileno()).st_size > MAX_FILE_BYTES:
                raise BadImage(path, "too-large", f"file is over {MAX_FILE_BYTES >> 20} MB; downscale it first")
            data = fh.read()
    except FileNotFoundError:
        raise BadImage(path, "missing", "file not found; check the path") from None
    except IsADirectoryError:
        raise BadImage(path, "not-a-file", "is a directory, expected an image file") from None
    except OSError as e:
        raise BadImage(path, "unreadable", f"cannot be read ({e.strerror}); check its permissions") from None
    except ValueError:  # "embedded null byte": no file has such a name
        shown = str(path).replace("\x00", "\\x00")
        raise BadImage(shown, "missing", "a file name cannot contain a NUL byte; check the path") from None
    return decode_image(data, path)


def decode_image(data: bytes, name: str | os.PathLike = "image", max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode image bytes (a file's or an upload's) to uint8 RGB H x W x 3, upright by its EXIF orientation; raise
    BadImage naming ``name`` (also for more than ``max_pixels`` decoded pixels, checked from the header first)."""
    path = name
    if not data:
        raise BadImage(path, "empty", "zero-byte file; re-copy or remove it")
    arr = _fast_png(data, max_pixels)
    if arr is not None:
        return arr
    from PIL import Image, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        with Image.open(io.BytesIO(data), formats=DECODE_FORMATS) as img:
            if img.width * img.height > max_pixels:
                raise BadImage(
                    path,
                    "too-large",
                    f"{img.width}x{img.height} is over {max_pixels / 1e6:g} megapixels; downscale it first",
                )
            img.load()
            arr = _to_rgb(_upright(img))
    except BadImage:
        raise
    except Image.DecompressionBombError:
        raise BadImage(
            path, "too-large", f"over {MAX_PIXELS // 1_000_000} megapixels (decompression bomb); downscale it first"
        ) from None
    except UnidentifiedImageError:
        raise BadImage(path, "not-an-image", f"not a readable image ({IMAGE_TYPES} expected)") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise BadImage(path, "corrupt", f"truncated or corrupt image ({e}); re-copy or remove it") from None
    if arr.ndim != 3 or arr.shape[2] != 3 or min(arr.shape[:2]) < 1:
        raise BadImage(
            path, "odd-shape", f"unusable image shape {arr.shape} (no pixels, or not 3 colours); re-save it as RGB"
        )
    return np.ascontiguousarray(arr, dtype=np.uint8)
