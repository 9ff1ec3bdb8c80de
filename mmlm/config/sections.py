"""The model, objective, trainer, compression, export and runtime sections.

They start with the settings the data pipeline already uses (masking rates, seeds, strategy);
the model, trainer and compression issues extend them.
"""

import dataclasses
import enum


class ModelPreset(enum.Enum):
    TINY = "tiny"  # the demo: trains in minutes on 2 CPU cores
    BASE = "base"  # a realistic small model


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Model section.

    Attributes:
        preset: size preset of every tower.
        embedding_dim: size of the shared, L2-normalized embedding space.
        image_patch_size: side of the square image patches.
        spectrogram_patch_size: (time, frequency) side of the spectrogram patches.
    """

    preset: ModelPreset = ModelPreset.TINY
    embedding_dim: int = 128
    image_patch_size: int = 8
    spectrogram_patch_size: int = 16


@dataclasses.dataclass(frozen=True)
class ObjectiveConfig:
    """Pretraining objectives and the masking they need from preprocessing.

    Attributes:
        contrastive_weight: weight of InfoNCE over every present modality pair.
        masked_lm_weight: weight of masked language modelling.
        masked_image_weight: weight of masked image patch reconstruction.
        masked_audio_weight: weight of masked spectrogram patch reconstruction.
        captioning_weight: weight of the decoder's causal LM loss.
        mlm_selection_rate: share of tokens selected for masked LM.
        mlm_max_selections: most tokens selected per sequence.
        image_mask_ratio: share of image patches masked.
        audio_mask_ratio: share of spectrogram patches masked.
    """

    contrastive_weight: float = 1.0
    masked_lm_weight: float = 1.0
    masked_image_weight: float = 1.0
    masked_audio_weight: float = 1.0
    captioning_weight: float = 1.0
    mlm_selection_rate: float = 0.15
    mlm_max_selections: int = 8
    image_mask_ratio: float = 0.75
    audio_mask_ratio: float = 0.5


@dataclasses.dataclass(frozen=True)
class TrainerConfig:
    """Trainer section.

    Attributes:
        steps: optimizer steps.
        learning_rate: peak learning rate.
        warmup_steps: linear warmup steps.
        checkpoint_every: steps between checkpoints.
    """

    steps: int = 1000
    learning_rate: float = 1e-3
    warmup_steps: int = 100
    checkpoint_every: int = 200


@dataclasses.dataclass(frozen=True)
class CompressionConfig:
    """Compression section.

    Attributes:
        pruning_sparsity: final sparsity of magnitude pruning.
        quantize: post-training quantization ("none", "float16", "dynamic", "int8").
    """

    pruning_sparsity: float = 0.5
    quantize: str = "dynamic"


@dataclasses.dataclass(frozen=True)
class ExportConfig:
    """Export section.

    Attributes:
        output_dir: where exported models are written.
    """

    output_dir: str = "saved_models"


class Strategy(enum.Enum):
    DEFAULT = "default"
    MIRRORED = "mirrored"
    MULTI_WORKER_MIRRORED = "multi_worker_mirrored"
    TPU = "tpu"
    PARAMETER_SERVER = "parameter_server"


class Precision(enum.Enum):
    FLOAT32 = "float32"
    MIXED_BFLOAT16 = "mixed_bfloat16"
    MIXED_FLOAT16 = "mixed_float16"


@dataclasses.dataclass(frozen=True)
class RuntimeConfig:
    """Runtime section.

    Attributes:
        strategy: the `tf.distribute` strategy.
        precision: Keras mixed precision policy.
        jit_compile: compile train steps with XLA.
        tpu_address: TPU resolver address (with `strategy=tpu`).
        num_parallel_calls: tf.data parallelism (0 = AUTOTUNE).
    """

    strategy: Strategy = Strategy.DEFAULT
    precision: Precision = Precision.FLOAT32
    jit_compile: bool = False
    tpu_address: str = ""
    num_parallel_calls: int = 0
