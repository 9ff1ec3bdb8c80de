"""`ExperimentConfig`: the one object an experiment file returns."""

import dataclasses

from mmlm.config.data import DataConfig
from mmlm.config.evaluation import EvaluationConfig
from mmlm.config.sections import (
    CompressionConfig,
    ExportConfig,
    GenerationConfig,
    ModelConfig,
    ObjectiveConfig,
    RuntimeConfig,
    TaskConfig,
    TrainerConfig,
)


@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
    """A whole experiment.

    Attributes:
        name: experiment name (default run directory: runs/<name>).
        data: data sources and preprocessing.
        model: model sizes.
        objective: pretraining objectives and masking.
        trainer: optimisation and checkpoints.
        compression: pruning and quantization.
        export: SavedModel / TFLite export.
        generation: text decoding (strategy, beams, sampling).
        task: what `mmlm finetune` trains (pretraining runs leave it at its default).
        evaluation: what `mmlm evaluate` scores besides retrieval (zero-shot from labels).
        runtime: strategy, precision, parallelism.
    """

    name: str = "experiment"
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    objective: ObjectiveConfig = ObjectiveConfig()
    trainer: TrainerConfig = TrainerConfig()
    compression: CompressionConfig = CompressionConfig()
    export: ExportConfig = ExportConfig()
    generation: GenerationConfig = GenerationConfig()
    task: TaskConfig = TaskConfig()
    evaluation: EvaluationConfig = EvaluationConfig()
    runtime: RuntimeConfig = RuntimeConfig()
