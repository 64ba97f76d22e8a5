"""The one schema check for lrface's stored metadata (torch-free, stdlib only): a gallery's pointer
(``gallery.json``) and its SQLite ``info`` records (calibration included), packaged model cards and their
index, and the ``lrface.*`` metadata of an exported ONNX model.

A schema is a plain value: a checker function, or a :class:`Record` of named fields. :func:`check` walks
it and raises :class:`SchemaError` naming the first bad field (``calibration.verify_threshold: nan is not
finite``); the caller turns that into its one-line "damaged, <fix>" error (CLI exit 2, API UserError,
service 503). Numbers must be finite (JSON lets NaN and Infinity through) and booleans are not numbers.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field

Checker = Callable[[object, str], None]
HEX64 = re.compile(r"[0-9a-f]{64}")
GENERATION_FILE = re.compile(r"(index|meta|vectors)-[0-9a-f]{1,64}\.(faiss|sqlite|npz)")


class SchemaError(ValueError):
    """A stored value of the wrong type or out of range; the message names the field."""


def _fail(where: str, value, expected: str):
    shown = repr(value)
    raise SchemaError(f"{where or 'value'}: {shown[:60] + '...' if len(shown) > 60 else shown} is not {expected}")


def integer(lo: int | None = None, hi: int | None = None) -> Checker:
    def check_int(v, where):
        if isinstance(v, bool) or not isinstance(v, int) or (lo is not None and v < lo) or (hi is not None and v > hi):
            _fail(where, v, f"a whole number in [{lo}, {hi}]")

    return check_int


def number(lo: float = -math.inf, hi: float = math.inf, open_lo: bool = False, slack: float = 0.0) -> Checker:
    """A finite number in [lo, hi] (``open_lo``: (lo, hi]), give or take ``slack`` (float32 rounding)."""

    def check_number(v, where):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            _fail(where, v, "a number")
        if not math.isfinite(v):
            _fail(where, v, "finite")
        if v < lo - slack or v > hi + slack or (open_lo and v == lo):
            _fail(where, v, f"in {'(' if open_lo else '['}{lo:g}, {hi:g}]")

    return check_number


def text(pattern: re.Pattern | None = None, choices: tuple[str, ...] = (), max_len: int = 100_000) -> Checker:
    def check_text(v, where):
        if not isinstance(v, str) or len(v) > max_len:
            _fail(where, v, "a string")
        if choices and v not in choices:
            _fail(where, v, f"one of {', '.join(choices)}")
        if pattern is not None and not pattern.fullmatch(v):
            _fail(where, v, f"of the form {pattern.pattern}")

    return check_text


def list_of(item: Checker, length: int | None = None, min_len: int = 0) -> Checker:
    def check_list(v, where):
        if not isinstance(v, list) or (length is not None and len(v) != length) or len(v) < min_len:
            _fail(where, v, f"a list of {length if length is not None else f'at least {min_len}'} items")
        for i, x in enumerate(v):
            item(x, f"{where}[{i}]")

    return check_list


def dict_of(key: Checker, value: Checker) -> Checker:
    def check_dict(v, where):
        if not isinstance(v, dict):
            _fail(where, v, "an object")
        for k, x in v.items():
            key(k, f"{where} key")
            value(x, f"{where}.{k}")

    return check_dict


def nullable(inner: Checker) -> Checker:
    def check_nullable(v, where):
        if v is not None:
            inner(v, where)

    return check_nullable


def anything(v, where) -> None:
    """Any JSON value (fields lrface only displays)."""


@dataclass(frozen=True)
class Record:
    """An object with ``required`` and ``optional`` fields (name -> checker); other fields are allowed."""

    required: dict[str, Checker]
    optional: dict[str, Checker] = field(default_factory=dict)

    def __call__(self, v, where: str = "") -> None:
        if not isinstance(v, dict):
            _fail(where, v, "an object")
        missing = [k for k in self.required if k not in v]
        if missing:
            raise SchemaError(f"{where + ' ' if where else ''}lacks {', '.join(missing)}")
        for k, x in v.items():
            checker = self.required.get(k) or self.optional.get(k)
            if checker is not None:
                checker(x, f"{where}.{k}" if where else k)


def check(value, schema: Checker, where: str = "") -> None:
    """Raise :class:`SchemaError` when ``value`` does not follow ``schema``."""
    schema(value, where)


def json_field(inner: Checker) -> Checker:
    """A string holding JSON (ONNX metadata values), whose decoded value follows ``inner``."""

    def check_json(v, where):
        if not isinstance(v, str):
            _fail(where, v, "a JSON string")
        try:
            decoded = json.loads(v)
        except ValueError:
            _fail(where, v, "valid JSON")
        inner(decoded, where)

    return check_json


def int_text(lo: int, hi: int) -> Checker:
    """A string holding a whole number (ONNX metadata values)."""

    def check_int_text(v, where):
        if not isinstance(v, str) or not re.fullmatch(r"[0-9]{1,9}", v):
            _fail(where, v, "a whole number")
        integer(lo, hi)(int(v), where)

    return check_int_text


# -- the schemas --------------------------------------------------------------------------------------
SIMILARITY = number(-1.0, 1.0, slack=1e-5)  # a cosine-similarity threshold (just above a float32 score near 1)
FAR = number(0.0, 1.0, open_lo=True)
EMBEDDING_DIM = integer(1, 65_536)
INPUT_SIZE = integer(2, 4096)
CHANNELS = list_of(number(-1e6, 1e6), length=3)
POSITIVE_CHANNELS = list_of(number(1e-12, 1e6), length=3)

POINTER = Record(
    required={
        "format": text(),
        "index": text(GENERATION_FILE),
        "meta": text(GENERATION_FILE),
        "sizes": dict_of(text(GENERATION_FILE), integer(0)),
    },
    optional={"flat": text(GENERATION_FILE), "identities": integer(0), "vectors": integer(0)},
)

CALIBRATION = Record(
    required={
        "far": FAR,
        "identify_threshold": nullable(SIMILARITY),
        "verify_threshold": nullable(SIMILARITY),
        "identities": integer(0),
        "date": text(max_len=100),
    },
    optional={
        "identify_impostor_scores": integer(0),
        "verify_impostor_pairs": integer(0),
        "samples": integer(0),
        "template": text(),
        "model_fingerprint": text(max_len=200),
        "seed": integer(),
        "method": text(),
        "edits": integer(0),
        "changed": Record(required={"identities": integer(0), "samples": integer(0)}),
    },
)

INDEX_PARAMS = Record(
    required={},
    optional={
        "nlist": integer(1, 1 << 20),
        "nprobe": integer(1, 1 << 20),
        "M": integer(2, 1024),
        "efConstruction": integer(1, 1 << 16),
        "efSearch": integer(1, 1 << 16),
    },
)

PREPROCESS = Record(
    required={"size": INPUT_SIZE},
    optional={"mean": CHANNELS, "std": POSITIVE_CHANNELS, "channel_order": text(choices=("RGB",))},
)


def gallery_info(templates: tuple[str, ...], index_types: tuple[str, ...]) -> Record:
    """A gallery's ``info`` records (JSON-decoded), with the template and index type names it may use."""
    return Record(
        required={
            "model_fingerprint": text(max_len=200),
            "model_path": text(max_len=10_000),
            "embedding_dim": EMBEDDING_DIM,
            "template": text(choices=templates),
            "index_type": text(choices=index_types),
            "index_params": INDEX_PARAMS,
        },
        optional={
            "format": text(),
            "lrface_version": text(max_len=100),
            "model_sha256": text(HEX64),
            "preprocess": PREPROCESS,
            "calibration": CALIBRATION,
            "edits": integer(0),
        },
    )


MODEL_INDEX = Record(required={"models": list_of(text(re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")))})

MODEL_CARD = Record(
    required={
        "name": text(max_len=100),
        "description": text(),
        "training_data": text(),
        "data_terms": text(),
        "preprocessing": text(),
        "accuracy": dict_of(text(), anything),
        "command": text(),
        "date": text(max_len=100),
        "sha256": text(HEX64),
    },
    optional={
        "size_bytes": integer(1),
        "terms": text(max_len=200),
        "architecture": text(),
        "machine": text(),
        "thresholds": Record(
            required={},
            optional={"verify": SIMILARITY, "verify_far": dict_of(text(), SIMILARITY), "source": text()},
        ),
    },
)

ONNX_METADATA = Record(
    required={
        "lrface.format": text(choices=("lrface-onnx/1",)),
        "lrface.fingerprint": text(max_len=200),
        "lrface.input_size": int_text(2, 4096),
        "lrface.mean": json_field(CHANNELS),
        "lrface.std": json_field(POSITIVE_CHANNELS),
        "lrface.channel_order": text(choices=("RGB",)),
        "lrface.embedding_dim": int_text(1, 65_536),
        "lrface.class_names": json_field(list_of(text(max_len=10_000))),
    },
)
