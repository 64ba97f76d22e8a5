"""Config files: YAML read strictly (a mapping, no key given twice, one-line errors) and ``base:`` inheritance."""

from __future__ import annotations

from pathlib import Path

import yaml

from ..errors import UserError


def yaml_value(text: str, what: str):
    """One KEY=VALUE value (--set, --ablation) read as YAML; UserError naming ``what`` when it is not YAML."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise UserError(
            f"{what}: the value is not valid YAML ({(str(e).splitlines() or ['?'])[0]}); quote it or fix the "
            "brackets, e.g. --set 'student.kwargs={width: 16}'"
        ) from None


class _UniqueKeys(yaml.SafeLoader):
    """safe_load that refuses a key given twice in one mapping (PyYAML keeps the last one silently)."""


def _mapping_without_duplicates(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False):
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, (str, int, float, bool)):
            continue
        if key in seen:
            line = key_node.start_mark.line + 1
            raise yaml.constructor.ConstructorError(None, None, f"the key {key!r} is given twice (line {line})")
        seen.add(key)
    return loader.construct_mapping(node, deep)


_UniqueKeys.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates)


def read_yaml_mapping(path: Path, what: str) -> dict:
    """A YAML file that must hold a mapping (sections); UserError for binary, invalid or other YAML, and for a
    key given twice."""
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeys)  # a SafeLoader
    except UnicodeDecodeError:
        raise UserError(f"{what} {path}: not a text (UTF-8) YAML file; pass a .yaml config") from None
    except OSError as e:
        raise UserError(f"{what} {path}: cannot read it ({e.strerror})") from None
    except yaml.YAMLError as e:
        raise UserError(f"{what} {path}: not valid YAML ({(str(e).splitlines() or ['?'])[0]})") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise UserError(
            f"{what} {path}: expected a mapping of sections (e.g. train: {{epochs: 5}}), "
            f"got a YAML {type(raw).__name__}"
        )
    return raw


def deep_merge(base: dict, over: dict) -> dict:
    """``base`` with ``over`` on top: sections merge key by key, any other value (lists too) replaces."""
    out = dict(base)
    for key, value in over.items():
        out[key] = deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def read_config_file(path: Path, chain: tuple[Path, ...] = ()) -> dict:
    """A config file's mapping, with the ``base:`` config it names (a path relative to it) merged underneath."""
    raw = read_yaml_mapping(path, "config")
    if "base" not in raw:
        return raw
    base = raw.pop("base")
    if not isinstance(base, str) or not base.strip():
        raise UserError(f"config {path}: base: names the config it extends, a path relative to it; got {base!r}")
    base_path = path.parent / base
    chain = (*chain, path.resolve())
    if base_path.resolve() in chain:
        cycle = " -> ".join(str(p) for p in (*chain, base_path.resolve()))
        raise UserError(f"config {path}: base: {base} makes a cycle ({cycle}); remove one of the base: lines")
    if not base_path.is_file():
        raise UserError(f"config {path}: base config {base_path} not found; base: is a path relative to {path.parent}")
    return deep_merge(read_config_file(base_path, chain), raw)
