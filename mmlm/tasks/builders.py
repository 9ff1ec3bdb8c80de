"""Experiment config → backbone and task constructor arguments (configs stop here: models and
tasks receive plain arguments, so `get_config` stays the one way they are serialized)."""

from mmlm.config import ContrastiveLoss, Modality
from mmlm.models import (
    AudioSpectrogramEncoder,
    CrossModalFusionEncoder,
    MultimodalBackbone,
    TextDecoder,
    TextEncoder,
    ViTEncoder,
)
from mmlm.models.presets import PRESETS
from mmlm.tasks.classification_task import ClassificationTask
from mmlm.tasks.distillation_task import DistillationTask
from mmlm.tasks.generation_task import GenerationTask
from mmlm.tasks.pretraining_task import PretrainingTask


def model_sizes(model_config):
    """The preset's sizes with the config's non-zero fields taking precedence."""
    sizes = dict(PRESETS[model_config.preset.value])
    for key in sizes:
        value = getattr(model_config, key)
        if value:
            sizes[key] = value
    return sizes


def build_backbone(config, vocabulary_size):
    """The `MultimodalBackbone` of an `ExperimentConfig` (only its configured modalities)."""
    m, data = config.model, config.data
    sizes = model_sizes(m)
    tower = {
        "hidden_dim": sizes["hidden_dim"],
        "num_layers": sizes["num_layers"],
        "num_heads": sizes["num_heads"],
        "intermediate_dim": sizes["intermediate_dim"],
        "dropout": m.dropout,
        "pooling": m.pooling.value,
        "attention_implementation": m.attention_implementation.value,
        "attention_chunk_size": m.attention_chunk_size,
    }
    modalities = set(data.modalities)
    parts = {}
    if Modality.TEXT in modalities:
        parts["text_encoder"] = TextEncoder(
            vocabulary_size, data.text.sequence_length, **tower, name="text_encoder"
        )
    if Modality.IMAGE in modalities:
        parts["image_encoder"] = ViTEncoder(
            data.image.image_size,
            m.image_patch_size,
            **tower,
            patch_positions=m.patch_positions.value,
            stem_channels=m.image_stem_channels,
            patch_dropout=m.image_patch_dropout,
            name="image_encoder",
        )
    if Modality.AUDIO in modalities:
        parts["audio_encoder"] = AudioSpectrogramEncoder(
            int(round(data.audio.sample_rate * data.audio.duration_seconds)),
            data.audio.log_mel_arguments(),
            m.spectrogram_patch_size,
            **tower,
            patch_positions=m.patch_positions.value,
            patch_dropout=m.audio_patch_dropout,
            name="audio_encoder",
        )
    shared = {k: v for k, v in tower.items() if k not in ("num_layers", "pooling")}
    parts["fusion_encoder"] = CrossModalFusionEncoder(
        [modality for modality in ("text", "image", "audio") if f"{modality}_encoder" in parts],
        num_layers=sizes["fusion_layers"],
        name="fusion_encoder",
        **shared,
    )
    if Modality.TEXT in modalities:
        parts["text_decoder"] = TextDecoder(
            vocabulary_size,
            data.text.sequence_length,
            num_layers=sizes["decoder_layers"],
            name="text_decoder",
            **shared,
        )
    return MultimodalBackbone(**parts, embedding_dim=m.embedding_dim, name="backbone")


def _step_arguments(config):
    """The train-step keyword arguments every `BackboneTask` takes, from the trainer section."""
    t = config.trainer
    return {"accumulation_steps": t.accumulation_steps, "clip_global_norm": t.clip_global_norm}


def _contrastive_arguments(objective):
    """The contrastive loss's `PretrainingTask` arguments: its kind and initial values."""
    if ContrastiveLoss(objective.contrastive_loss) is ContrastiveLoss.SIGMOID:
        return {
            "contrastive_loss": ContrastiveLoss.SIGMOID.value,
            "initial_temperature": objective.sigmoid_initial_temperature,
            "initial_logit_bias": objective.sigmoid_initial_bias,
        }
    return {
        "contrastive_loss": ContrastiveLoss.INFONCE.value,
        "initial_temperature": objective.initial_temperature,
    }


def _pretraining_arguments(config):
    """`PretrainingTask` keyword arguments of an `ExperimentConfig` (all but the backbone)."""
    o = config.objective
    return {
        "loss_weights": {
            "contrastive": o.contrastive_weight,
            "masked_lm": o.masked_lm_weight,
            "masked_image": o.masked_image_weight,
            "masked_audio": o.masked_audio_weight,
            "captioning": o.captioning_weight,
        },
        **_contrastive_arguments(o),
        "max_logit_scale": o.max_logit_scale,
        "caption_modality_dropout": o.caption_modality_dropout,
        "captioning_batch_fraction": o.captioning_batch_fraction,
        **_step_arguments(config),
    }


def build_pretraining_task(config, vocabulary_size, backbone=None):
    """The `PretrainingTask` of an `ExperimentConfig`.

    Args:
        config: the `ExperimentConfig`.
        vocabulary_size: tokens of the text vocabulary.
        backbone: an existing backbone to train further (a pretrained, pruned or
            quantization-aware one); None builds a fresh one from `config.model`.
    """
    return PretrainingTask(
        backbone if backbone is not None else build_backbone(config, vocabulary_size),
        **_pretraining_arguments(config),
        name="pretraining_task",
    )


def build_distillation_task(config, vocabulary_size, teacher, backbone=None):
    """The `DistillationTask` of an `ExperimentConfig`: a `config.model` student, `teacher`.

    The student keeps the pretraining objectives of `config.objective`;
    `compression.distill_embedding_weight` weighs both embedding terms (per-row embedding and
    in-batch similarity distillation), `compression.distill_logit_weight` the decoder's logit
    distillation, and `compression.distill_temperature` softens the last two.

    Args:
        config: the `ExperimentConfig`.
        vocabulary_size: tokens of the text vocabulary (the teacher's must match).
        teacher: the trained teacher `MultimodalBackbone` (frozen by the task).
        backbone: the student backbone; None builds a fresh one from `config.model`.

    Returns:
        A `DistillationTask`.
    """
    c = config.compression
    return DistillationTask(
        backbone if backbone is not None else build_backbone(config, vocabulary_size),
        teacher,
        distillation_weights={
            "embedding_distillation": c.distill_embedding_weight,
            "similarity_distillation": c.distill_embedding_weight,
            "logit_distillation": c.distill_logit_weight,
        },
        distillation_temperature=c.distill_temperature,
        **_pretraining_arguments(config),
        name="distillation_task",
    )


def build_generation_task(config, backbone):
    """The `GenerationTask` of an `ExperimentConfig`'s `task` section around `backbone`."""
    t = config.task
    return GenerationTask(
        backbone,
        conditioning=t.conditioning,
        source_text=t.source_text,
        target_text=t.target_text,
        **_step_arguments(config),
        name="generation_task",
    )


def build_task(config, backbone):
    """The downstream task of `config.task` (generation or classification) around `backbone`."""
    from mmlm.config import TaskKind

    if config.task.kind is TaskKind.CLASSIFICATION:
        t = config.task
        return ClassificationTask(
            backbone,
            modality=t.modality,
            num_classes=t.num_classes,
            label_feature=t.label_feature,
            label_index=t.label_index,
            dropout=config.model.dropout,
            **_step_arguments(config),
            name="classification_task",
        )
    return build_generation_task(config, backbone)
