"""Encoders, fusion, decoder and the multimodal backbone (functional Keras models)."""

from mmlm.models.audio_encoder import AudioSpectrogramEncoder
from mmlm.models.fusion_encoder import CrossModalFusionEncoder
from mmlm.models.multimodal_backbone import (
    DECODER_INPUTS,
    ENCODER_INPUTS,
    MODALITIES,
    MultimodalBackbone,
)
from mmlm.models.presets import PRESETS
from mmlm.models.text_decoder import TextDecoder
from mmlm.models.text_encoder import TextEncoder
from mmlm.models.vit_encoder import ViTEncoder
