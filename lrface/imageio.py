"""Reading user images safely into uint8 RGB arrays (torch-free)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from .errors import UserError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".pgm", ".webp")
MAX_PIXELS = 50_000_000
Image.MAX_IMAGE_PIXELS = MAX_PIXELS


class BadImage(UserError):
    """An image file that cannot be used; ``reason`` is a short machine-readable tag."""

    def __init__(self, path, reason: str, detail: str):
        super().__init__(f"{path}: {detail}")
        self.path, self.reason = str(path), reason


def is_image_file(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def _to_rgb(img: Image.Image) -> np.ndarray:
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.uint32)
        arr = (arr >> 8).clip(0, 255).astype(np.uint8) if arr.max() > 255 else arr.astype(np.uint8)
        return np.repeat(arr[..., None], 3, axis=2)
    if img.mode in ("RGBA", "LA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(bg, rgba).convert("RGB"))
    return np.asarray(img.convert("RGB"))


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Decode any common image to uint8 RGB H x W x 3; raise BadImage naming what is wrong."""
    path = Path(path)
    if not path.exists():
        raise BadImage(path, "missing", "file not found; check the path")
    if path.is_dir():
        raise BadImage(path, "not-a-file", "is a directory, expected an image file")
    if path.stat().st_size == 0:
        raise BadImage(path, "empty", "zero-byte file; re-copy or remove it")
    try:
        with Image.open(path) as img:
            if img.width * img.height > MAX_PIXELS:
                raise BadImage(path, "too-large", f"{img.width}x{img.height} is over {MAX_PIXELS // 1_000_000} megapixels; downscale it first")
            img.load()
            arr = _to_rgb(img)
    except BadImage:
        raise
    except Image.DecompressionBombError:
        raise BadImage(path, "too-large", f"over {MAX_PIXELS // 1_000_000} megapixels (decompression bomb); downscale it first") from None
    except UnidentifiedImageError:
        raise BadImage(path, "not-an-image", "not a readable image (jpg, png, bmp, pgm, webp expected)") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise BadImage(path, "corrupt", f"truncated or corrupt image ({e}); re-copy or remove it") from None
    if arr.ndim != 3 or arr.shape[2] != 3 or min(arr.shape[:2]) < 1:
        raise BadImage(path, "odd-shape", f"unusable image shape {arr.shape}")
    return np.ascontiguousarray(arr, dtype=np.uint8)
