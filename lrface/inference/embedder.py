"""ONNX Runtime embedder for an exported lrface student (torch-free)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

from ..errors import Damaged, Hint, UserError
from ..imageio import MAX_PIXELS, BadImage, decode_image, read_image
from ..model_integrity import check_embeddings, file_sha256
from ..preprocess import PreprocessSpec, preprocess, resize_uint8
from ..pretrained import check_packaged
from ..schema_check import ONNX_METADATA, SchemaError, check

BATCH = 1024  # images per ONNX Runtime call
TOO_SMALL = "too-small"
BLANK = "blank"
FLAT_RANGE = 2  # grey levels: an input whose pixels all lie within this range is one flat colour
PHOTO_FACTOR = 8  # an image this many times the input side, embedded without alignment, is probably a photo


def min_side(input_size: int) -> int:
    """Smallest usable image side for a model input of ``input_size`` pixels: a quarter of it (4 px for 16)."""
    return max(2, -(-input_size // 4))


class Embedder:
    """Reads the preprocessing spec and fingerprint from the model's metadata; images -> embeddings.

    ``sha256`` is the file's hash (checked against the model card for a packaged model); ``fingerprint``
    the exported weights' fingerprint from the metadata. Both are recorded by a gallery.

    With ``align`` the image files are raw photos: ``load`` detects and aligns the face first
    (lrface.detect's torch-free MTCNN + template: the crop `lrface prepare` makes)."""

    def __init__(self, path: str | Path, align: bool = False, threads: int = 0):
        import onnxruntime as ort

        self.path = Path(path).resolve()
        if not self.path.is_file():
            raise UserError(f"{path}: model not found; pass the .onnx written by `lrface export --onnx`")
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 0:
            raise UserError(f"threads={threads!r}: pass a whole number >= 0 (0: one per core)")
        self.sha256 = file_sha256(self.path)  # before loading: a damaged packaged file is named as such
        check_packaged(self.path, self.sha256)
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        opts.intra_op_num_threads = threads  # 0: ONNX Runtime's default (one per core)
        try:
            self.session = ort.InferenceSession(str(self.path), opts, providers=["CPUExecutionProvider"])
            meta = dict(self.session.get_modelmeta().custom_metadata_map)
        except Exception as e:  # noqa: BLE001  (onnxruntime raises its own pybind exception types)
            raise UserError(
                f"{path}: truncated, damaged or not an ONNX model ({str(e).splitlines()[0][:160]}); "
                "re-run `lrface export --onnx`"
            ) from None
        outputs = {o.name: o.shape for o in self.session.get_outputs()}
        if meta.get("lrface.format") != "lrface-onnx/1" or "embedding" not in outputs:
            raise UserError(
                f"{path}: an ONNX model but not one exported by `lrface export --onnx` "
                "(no lrface metadata or no 'embedding' output); pass a model written by `lrface export --onnx RUN_DIR` "
                "or a packaged model's name (`lrface models`)"
            )
        try:
            check(meta, ONNX_METADATA)
            dim, width = int(meta["lrface.embedding_dim"]), (outputs["embedding"] or [None])[-1]
            if isinstance(width, int) and width != dim:
                raise SchemaError(f"the 'embedding' output has {width} values, not lrface.embedding_dim {dim}")
        except SchemaError as e:
            raise Damaged(
                f"{path}: damaged lrface metadata in the model ({e}); re-run `lrface export --onnx RUN_DIR`"
            ) from None
        self.spec = PreprocessSpec(
            size=int(meta["lrface.input_size"]),
            mean=tuple(json.loads(meta["lrface.mean"])),
            std=tuple(json.loads(meta["lrface.std"])),
            channel_order=meta["lrface.channel_order"],
        )
        self.fingerprint = meta["lrface.fingerprint"]
        self.dim = dim
        self.class_names = json.loads(meta["lrface.class_names"])
        self.metadata = meta
        self.aligner = None
        self._photo_hinted = False
        if align:
            from .align import PhotoAligner

            self.aligner = PhotoAligner(threads=threads)

    @property
    def align(self) -> bool:
        return self.aligner is not None

    def load(self, path: str | Path) -> np.ndarray:
        """One image file -> uint8 RGB resized to the model's input size (BadImage on bad files, and on
        photos without a face when aligning)."""
        return self.prepare(read_image(path), path)

    def load_bytes(self, data: bytes, name: str = "upload", max_pixels: int = MAX_PIXELS) -> np.ndarray:
        """Encoded image bytes (an upload) -> like :meth:`load`."""
        return self.prepare(decode_image(data, name, max_pixels), name)

    def prepare(self, image: np.ndarray, name) -> np.ndarray:
        """A decoded uint8 RGB image -> the model's input size; the one check every probe and sample passes:
        images far below the input size (a side under a quarter of it) or of one flat colour carry no face and
        are refused."""
        if min(image.shape[:2]) < min_side(self.spec.size):
            raise BadImage(
                name,
                TOO_SMALL,
                f"{image.shape[1]}x{image.shape[0]} pixels is far below the model's "
                f"{self.spec.size}x{self.spec.size} input (each side needs at least "
                f"{min_side(self.spec.size)} px); use a larger face crop",
            )
        if self.aligner is not None:
            image = self.aligner(name, image)
        elif max(image.shape[:2]) > PHOTO_FACTOR * self.spec.size and not self._photo_hinted:
            self._photo_hinted = True  # once per embedder: one line for a folder of photos
            warnings.warn(
                Hint(
                    f"{name} is {image.shape[1]}x{image.shape[0]} pixels and was embedded whole: the model reads "
                    f"faces aligned to its template ({self.spec.size}x{self.spec.size}, as `lrface prepare` crops "
                    "them); for photos pass --align (Recognizer(align=True))"
                ),
                stacklevel=2,
            )
        small = resize_uint8(image, self.spec.size)
        if int(small.max()) - int(small.min()) <= FLAT_RANGE:
            raise BadImage(
                name,
                BLANK,
                "one flat colour (a blank, or fully transparent, image): no face to embed; pass a face image",
            )
        return small

    def embed(self, images) -> np.ndarray:
        """uint8 RGB images (a sequence of H x W x 3, or N x H x W x 3) -> float32 N x D, L2-normalised."""
        out = np.empty((len(images), self.dim), np.float32)
        for i in range(0, len(images), BATCH):
            chunk = np.stack([resize_uint8(np.asarray(im), self.spec.size) for im in images[i : i + BATCH]])
            out[i : i + len(chunk)] = self.session.run(["embedding"], {"image": preprocess(chunk, self.spec)})[0]
        check_embeddings(out, self.path)
        return out
