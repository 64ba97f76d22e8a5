"""The one schema check (lrface/schema_check.py) and where it runs: tampered gallery.json, gallery info and
calibration records, stored embeddings, ONNX metadata and model cards each end in one "damaged ... <fix>"
line (CLI exit 2, API Damaged), never a traceback or a silent answer."""

from __future__ import annotations

import json
import math
import re
import sqlite3

import numpy as np
import pytest
from serving_helpers import assert_one_line_error, cli, generated_faces, package_model, write_identity_folder

import lrface
from lrface import pretrained
from lrface.errors import Damaged
from lrface.schema_check import CALIBRATION, MODEL_CARD, ONNX_METADATA, POINTER, SchemaError, check
from tools.fault_sweep.tamper import republish


def test_the_checkers_refuse_wrong_types_ranges_and_non_finite_numbers():
    cal = {"far": 0.01, "identify_threshold": 0.5, "verify_threshold": None, "identities": 3, "date": "d"}
    check(cal, CALIBRATION)
    for key, value, needle in (
        ("identify_threshold", math.nan, "nan is not finite"),
        ("identify_threshold", math.inf, "inf is not finite"),
        ("verify_threshold", -1.5, "not in [-1, 1]"),
        ("identify_threshold", "0.5", "is not a number"),
        ("identify_threshold", True, "is not a number"),
        ("far", 0.0, "not in (0, 1]"),
        ("identities", 2.5, "not a whole number"),
    ):
        with pytest.raises(SchemaError, match=re.escape(f"calibration.{key}: ") + ".*" + re.escape(needle)):
            check({**cal, key: value}, CALIBRATION, "calibration")
    with pytest.raises(SchemaError, match="lacks date"):
        check({k: v for k, v in cal.items() if k != "date"}, CALIBRATION)
    check({**cal, "changed": {"identities": 4, "samples": 9}}, CALIBRATION)
    with pytest.raises(SchemaError, match=re.escape("calibration.changed.samples: -1 is not")):
        check({**cal, "changed": {"identities": 4, "samples": -1}}, CALIBRATION, "calibration")
    with pytest.raises(SchemaError, match="calibration.changed lacks samples"):
        check({**cal, "changed": {"identities": 4}}, CALIBRATION, "calibration")
    ptr = {"format": "lrface-gallery/1", "index": "index-ab.faiss", "meta": "meta-ab.sqlite", "sizes": {}}
    check(ptr, POINTER)
    for bad in ({"index": "../../etc/passwd"}, {"sizes": []}, {"sizes": {"meta-ab.sqlite": -1}}, {"meta": 3}):
        with pytest.raises(SchemaError):
            check({**ptr, **bad}, POINTER)


def test_shipped_cards_and_models_follow_the_schema():
    for m in pretrained.list_models():
        check(m.card, MODEL_CARD)
        check(lrface.Recognizer(m.name).embedder.metadata, ONNX_METADATA)


@pytest.fixture
def gallery(tiny, tmp_path):
    images, labels = generated_faces(n_ids=3, per_id=3, seed=4)
    folder = write_identity_folder(tmp_path / "faces", images, labels, ["a", "b", "c"])
    g = tmp_path / "g"
    assert cli("gallery", "build", folder, "--model", tiny[1], "--out", g) == 0
    return g, next(folder.glob("a/*.png"))


CAL = '{{"far": 0.01, "identify_threshold": {}, "verify_threshold": 0.3, "identities": 3, "date": "d"}}'


@pytest.mark.parametrize(
    "pointer,info,vectors,needle",
    [
        ({"sizes": ["x"]}, None, None, "sizes: ['x'] is not an object"),
        ({"meta": "../../meta.sqlite"}, None, None, "meta: '../../meta.sqlite' is not of the form"),
        ({"format": 1}, None, None, "format: 1 is not a string"),
        (None, {"calibration": CAL.format("NaN")}, None, "calibration.identify_threshold: nan is not finite"),
        (None, {"calibration": CAL.format("2")}, None, "calibration.identify_threshold: 2 is not in [-1, 1]"),
        (None, {"calibration": CAL.format('"high"')}, None, "identify_threshold: 'high' is not a number"),
        (None, {"calibration": "[1, 2]"}, None, "calibration: [1, 2] is not an object"),
        (None, {"index_params": '{"nprobe": -3}'}, None, "index_params.nprobe: -3 is not a whole number"),
        (None, {"model_path": "42"}, None, "model_path: 42 is not a string"),
        (None, {"model_sha256": '"abc"'}, None, "model_sha256: 'abc' is not of the form"),
        (None, None, lambda v: np.where(v > 0, np.inf, v), "NaN or infinity among the vectors"),
        (None, None, lambda v: v * 3, "is not a cosine similarity"),
    ],
)
def test_a_tampered_gallery_is_one_line_with_the_fix(gallery, capsys, pointer, info, vectors, needle):
    g, probe = gallery
    republish(g, info, vectors)
    if pointer:
        ptr = json.loads((g / "gallery.json").read_text())
        (g / "gallery.json").write_text(json.dumps({**ptr, **pointer}))
    capsys.readouterr()
    assert_one_line_error(capsys, cli("identify", probe, "--gallery", g), needle)
    with pytest.raises(Damaged, match="rebuild with `lrface gallery build FOLDER --out"):
        lrface.Recognizer(lrface.Gallery.open(g).info["model_path"] if info or vectors else None).identify(probe, g)


@pytest.mark.parametrize(
    "sql,needle",
    [
        (
            "UPDATE samples SET embedding = zeroblob(12) WHERE id = 1",
            "a sample embedding of bytes 12 is not 16 float32",
        ),
        ("UPDATE samples SET embedding = ? WHERE id = 1", "holds NaN or infinity"),
        ("UPDATE samples SET embedding = 'text' WHERE id = 1", "a sample embedding of str 4 is not 16 float32"),
    ],
)
def test_tampered_sample_embeddings_are_refused_by_writers(gallery, capsys, sql, needle):
    g, probe = gallery
    republish(g)
    meta = g / json.loads((g / "gallery.json").read_text())["meta"]
    with sqlite3.connect(meta) as conn:
        args = (np.full(16, np.nan, np.float32).tobytes(),) if "?" in sql else ()  # the tiny model is 16-d
        conn.execute(sql, args)
    conn.close()
    ptr = json.loads((g / "gallery.json").read_text())
    ptr["sizes"][meta.name] = meta.stat().st_size
    (g / "gallery.json").write_text(json.dumps(ptr))
    capsys.readouterr()
    assert_one_line_error(capsys, cli("gallery", "calibrate", g, "--far", "0.1"), needle)
    new = write_identity_folder(g.parent / "new", *generated_faces(n_ids=1, per_id=1, seed=9), ["a"])
    assert_one_line_error(capsys, cli("gallery", "add", g, "--identity", "a", new / "a"), needle)  # a's mean


@pytest.mark.parametrize(
    "key,value,needle",
    [
        ("lrface.input_size", "abc", "lrface.input_size: 'abc' is not a whole number"),
        ("lrface.input_size", "0", "lrface.input_size: 0 is not a whole number in [2, 4096]"),
        ("lrface.mean", "[NaN, 0.5, 0.5]", "lrface.mean[0]: nan is not finite"),
        ("lrface.std", "[0, 0.5, 0.5]", "lrface.std[0]: 0 is not in"),
        ("lrface.embedding_dim", "7", "the 'embedding' output has 16 values, not lrface.embedding_dim 7"),
        ("lrface.class_names", "{", "lrface.class_names: '{' is not valid JSON"),
        (
            "lrface.channel_order",
            "BGR",
            "lrface.channel_order: 'BGR' is not one of RGB",
        ),  # the one order preprocess has
    ],
)
def test_tampered_onnx_metadata_is_one_line(tiny, gallery, tmp_path, capsys, key, value, needle):
    import onnx

    proto = onnx.load(str(tiny[1]))
    props = {p.key: p.value for p in proto.metadata_props}
    del proto.metadata_props[:]
    onnx.helper.set_model_props(proto, {**props, key: value})
    bad = tmp_path / "bad.onnx"
    onnx.save(proto, str(bad))
    with pytest.raises(Damaged, match="damaged lrface metadata in the model"):
        lrface.Recognizer(bad)
    capsys.readouterr()
    assert_one_line_error(capsys, cli("embed", gallery[1], "--model", bad, "--out", tmp_path / "e.npy"), needle)


@pytest.mark.parametrize(
    "edit,needle",
    [
        ({"thresholds": {"verify": float("nan")}}, "thresholds.verify: nan is not finite"),
        ({"thresholds": {"verify": 3}}, "thresholds.verify: 3 is not in [-1, 1]"),
        ({"thresholds": {"verify_far": {"0.01": "x"}}}, "thresholds.verify_far.0.01: 'x' is not a number"),
        ({"sha256": 123}, "sha256: 123 is not a string"),
        ({"name": "other"}, "name: 'other' is not 'tiny'"),
        ({"accuracy": "80 %"}, "accuracy: '80 %' is not an object"),
    ],
)
def test_tampered_model_cards_are_one_line(tiny, tmp_path, monkeypatch, capsys, edit, needle):
    root = tmp_path / "pretrained"
    card = package_model(root, tiny[1])
    (root / "tiny.json").write_text(json.dumps({**card, **edit}))
    monkeypatch.setattr(pretrained, "HERE", root)
    for fn in (pretrained.resolve_model, pretrained.list_models):
        monkeypatch.setattr(fn, "__defaults__", (root,))
    capsys.readouterr()
    assert_one_line_error(capsys, cli("models"), needle)
    with pytest.raises(Damaged, match="the model card of packaged model 'tiny' is damaged"):
        lrface.Recognizer()
