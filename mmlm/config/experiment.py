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
from mmlm.config.tuning import TuningConfig


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
        tuning: the search space and search of `mmlm tune`.
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
    tuning: TuningConfig = TuningConfig()


def smoke_variant(config, steps, eval_every, global_batch_size, shuffle_buffer, **changes):
    """The `:smoke` variant of an experiment, what tests and laptops run.

    `steps` optimizer steps (evaluating and checkpointing every `eval_every`, logging every
    step), batches of `global_batch_size`, the default runtime and `_smoke` after the name;
    `changes` replace other sections (a smaller `data`, say, which still gets the batch size and
    shuffle buffer).
    """
    data = changes.pop("data", config.data)
    trainer = TrainerConfig(
        steps=steps,
        warmup_steps=1,
        eval_every=eval_every,
        checkpoint_every=eval_every,
        log_every=1,
    )
    return dataclasses.replace(
        config,
        name=config.name + "_smoke",
        data=dataclasses.replace(
            data, global_batch_size=global_batch_size, shuffle_buffer=shuffle_buffer
        ),
        trainer=trainer,
        runtime=RuntimeConfig(),
        **changes,
    )
