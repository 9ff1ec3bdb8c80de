"""Layers: building blocks that know nothing of configs (STYLE.md §1)."""

from mmlm.layers.audio_frontend import AudioFrontend
from mmlm.layers.learned_tokens import MaskTokens, ModalityEmbedding, PrependToken
from mmlm.layers.masks import AllValidMask, PresenceMask
from mmlm.layers.log_mel_spectrogram import LogMelSpectrogram
from mmlm.layers.patch_dropout import PatchDropout
from mmlm.layers.patch_embedding import PatchEmbedding
from mmlm.layers.pooling import MaskedPooling
from mmlm.layers.position_encoding import SinCosPositionEncoding2D
from mmlm.layers.projection_head import ProjectionHead
from mmlm.layers.prunable import PrunableKernelsMixin
from mmlm.layers.transformer_blocks import (
    CrossModalFusionBlock,
    TransformerDecoderBlock,
    TransformerEncoderBlock,
    recompute_blocks,
)
