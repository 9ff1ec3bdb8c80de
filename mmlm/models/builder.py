"""Turns the experiment config into the backbone's constructor arguments (configs stop here)."""

from mmlm.config import Modality
from mmlm.data import factory
from mmlm.models.audio_encoder import AudioSpectrogramEncoder
from mmlm.models.fusion_encoder import CrossModalFusionEncoder
from mmlm.models.multimodal_backbone import MultimodalBackbone
from mmlm.models.presets import PRESETS
from mmlm.models.text_decoder import TextDecoder
from mmlm.models.text_encoder import TextEncoder
from mmlm.models.vit_encoder import ViTEncoder


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
            name="image_encoder",
        )
    if Modality.AUDIO in modalities:
        parts["audio_encoder"] = AudioSpectrogramEncoder(
            int(round(data.audio.sample_rate * data.audio.duration_seconds)),
            factory.log_mel_arguments(data),
            m.spectrogram_patch_size,
            **tower,
            patch_positions=m.patch_positions.value,
            name="audio_encoder",
        )
    shared = {k: tower[k] for k in ("hidden_dim", "num_heads", "intermediate_dim", "dropout")}
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
