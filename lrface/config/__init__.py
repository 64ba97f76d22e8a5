"""Typed run configuration: the schema (``schema.py``), its loading (``load.py``) and the rules between keys (``rules.py``)."""

from .files import read_yaml_mapping, yaml_value
from .load import config_from_dict, load_config
from .schema import (
    AugmentConfig,
    Config,
    DataConfig,
    EmbedKdConfig,
    GuidedConfig,
    HeadConfig,
    HrConfig,
    InitConfig,
    LossConfig,
    OptimConfig,
    PreprocessConfig,
    StreamConfig,
    TeacherConfig,
    TrainConfig,
)

__all__ = [
    "AugmentConfig",
    "Config",
    "DataConfig",
    "EmbedKdConfig",
    "GuidedConfig",
    "HeadConfig",
    "HrConfig",
    "InitConfig",
    "LossConfig",
    "OptimConfig",
    "PreprocessConfig",
    "StreamConfig",
    "TeacherConfig",
    "TrainConfig",
    "config_from_dict",
    "load_config",
    "read_yaml_mapping",
    "yaml_value",
]
