"""docs/config-reference.md is generated from the config schema and must stay in sync with it."""

import dataclasses
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _generator():
    spec = importlib.util.spec_from_file_location("gen_config_reference", ROOT / "tools" / "gen_config_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_schema_key_has_a_one_line_description():
    gen = _generator()
    assert gen.problems([k for k, _, _ in gen.schema_keys()]) == []


def test_reference_file_is_current():
    gen = _generator()
    assert (ROOT / "docs" / "config-reference.md").read_text(encoding="utf-8") == gen.render(), (
        "docs/config-reference.md is stale; run python tools/gen_config_reference.py"
    )


def test_a_new_schema_key_without_description_is_reported():
    from lrface.config.schema import Config, TrainConfig

    gen = _generator()
    extended_train = dataclasses.make_dataclass(
        "TrainConfigPlus", [("brand_new_key", int, dataclasses.field(default=3))], bases=(TrainConfig,)
    )
    extended = dataclasses.make_dataclass(
        "ConfigPlus", [("train", extended_train, dataclasses.field(default_factory=extended_train))], bases=(Config,)
    )
    keys = [k for k, _, _ in gen.schema_keys(extended)]
    assert "train.brand_new_key" in keys
    assert gen.problems(keys) == ["train.brand_new_key: no description in tools/gen_config_reference.py DESCRIPTIONS"]
    assert "train.brand_new_key" in gen.render(gen.schema_keys(extended))


def test_a_description_of_a_removed_key_is_reported():
    gen = _generator()
    keys = [k for k, _, _ in gen.schema_keys() if k != "train.seed"]
    assert gen.problems(keys) == ["train.seed: described but not in the schema"]
