"""Config → task constructor arguments (configs stop here)."""

from mmlm.models.builder import build_backbone
from mmlm.tasks.pretraining_task import PretrainingTask


def build_pretraining_task(config, vocabulary_size):
    """The `PretrainingTask` of an `ExperimentConfig`."""
    o, t = config.objective, config.trainer
    return PretrainingTask(
        build_backbone(config, vocabulary_size),
        loss_weights={
            "contrastive": o.contrastive_weight,
            "masked_lm": o.masked_lm_weight,
            "masked_image": o.masked_image_weight,
            "masked_audio": o.masked_audio_weight,
            "captioning": o.captioning_weight,
        },
        initial_temperature=o.initial_temperature,
        max_logit_scale=o.max_logit_scale,
        caption_modality_dropout=o.caption_modality_dropout,
        accumulation_steps=t.accumulation_steps,
        clip_global_norm=t.clip_global_norm,
        name="pretraining_task",
    )
