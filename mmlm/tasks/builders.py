"""Config → task constructor arguments (configs stop here)."""

from mmlm.models.builder import build_backbone
from mmlm.tasks.pretraining_task import PretrainingTask


def build_pretraining_task(config, vocabulary_size, backbone=None):
    """The `PretrainingTask` of an `ExperimentConfig`.

    Args:
        config: the `ExperimentConfig`.
        vocabulary_size: tokens of the text vocabulary.
        backbone: an existing backbone to train further (a pretrained, pruned or
            quantization-aware one); None builds a fresh one from `config.model`.
    """
    o, t = config.objective, config.trainer
    return PretrainingTask(
        backbone if backbone is not None else build_backbone(config, vocabulary_size),
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
