"""Typed, frozen experiment configs (STYLE.md §2)."""

from mmlm.config.base import ConfigError, apply_overrides, from_dict, to_dict, to_yaml
from mmlm.config.data import (
    AudioConfig,
    CatalogConfig,
    DataConfig,
    DataSource,
    IdxConfig,
    ImageConfig,
    ManifestConfig,
    ManPagesConfig,
    ManPagesUnit,
    Modality,
    ScenesConfig,
    TextConfig,
    TFDSConfig,
)
from mmlm.config.evaluation import EvaluationConfig
from mmlm.config.experiment import ExperimentConfig, smoke_variant
from mmlm.config.loader import (
    load_config,
    load_config_module,
    sibling_config,
    with_absolute_paths,
    write_config,
)
from mmlm.config.sections import (
    AttentionImplementation,
    CompressionConfig,
    ContrastiveLoss,
    Decay,
    DecodingStrategy,
    ExportConfig,
    GenerationConfig,
    ModelConfig,
    ModelPreset,
    ObjectiveConfig,
    PatchPositions,
    Pooling,
    Precision,
    PruningSchedule,
    Quantization,
    RuntimeConfig,
    Strategy,
    TaskConfig,
    TaskKind,
    TrainerConfig,
)
from mmlm.config.tuning import (
    Direction,
    ParameterKind,
    SearchAlgorithm,
    SearchParameter,
    TuningConfig,
)
