"""Pretraining objectives: losses as functions of tensors; they never build models."""

from mmlm.objectives.captioning import causal_lm_loss, shift_for_causal_lm, token_cross_entropy
from mmlm.objectives.contrastive import PAIRS, contrastive_loss, pairwise_contrastive_losses
from mmlm.objectives.masked_lm import masked_lm_accuracy, masked_lm_loss
from mmlm.objectives.masked_patch import (
    masked_patch_loss,
    patch_validity,
    patchify_images,
    patchify_spectrogram,
)
from mmlm.objectives.sigmoid_contrastive import sigmoid_contrastive_loss

__all__ = [
    "PAIRS",
    "causal_lm_loss",
    "contrastive_loss",
    "masked_lm_accuracy",
    "masked_lm_loss",
    "masked_patch_loss",
    "pairwise_contrastive_losses",
    "patch_validity",
    "patchify_images",
    "patchify_spectrogram",
    "shift_for_causal_lm",
    "sigmoid_contrastive_loss",
    "token_cross_entropy",
]
