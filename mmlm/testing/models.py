"""Tiny models and batches for tests (shared so test files stay short)."""

import numpy as np

from mmlm.models import (
    AudioSpectrogramEncoder,
    CrossModalFusionEncoder,
    MultimodalBackbone,
    TextDecoder,
    TextEncoder,
    ViTEncoder,
)

VOCABULARY_SIZE = 50
SEQUENCE_LENGTH = 8
IMAGE_SIZE = 16
NUM_SAMPLES = 8000
SAMPLE_RATE = 8000
AUDIO_PATCHES = 24  # (8000 samples → 101 frames → 12 time patches) × (16 mels → 2)
TINY = {"hidden_dim": 16, "num_layers": 1, "num_heads": 2, "intermediate_dim": 32}
LOG_MEL = {
    "sample_rate": SAMPLE_RATE,
    "fft_length": 256,
    "frame_length": 200,
    "frame_step": 80,
    "num_mel_bins": 16,
}


def tiny_encoders(
    pooling="mean", patch_positions="learned", image_stem_channels=(), attention=None
):
    """Text, ViT and audio encoders of `TINY` size (`attention`: their attention options)."""
    patches = {"pooling": pooling, "patch_positions": patch_positions, **(attention or {})}
    return {
        "text_encoder": TextEncoder(
            VOCABULARY_SIZE,
            SEQUENCE_LENGTH,
            **TINY,
            pooling=pooling,
            **(attention or {}),
            name="text_encoder",
        ),
        "image_encoder": ViTEncoder(
            IMAGE_SIZE,
            8,
            **TINY,
            **patches,
            stem_channels=image_stem_channels,
            name="image_encoder",
        ),
        "audio_encoder": AudioSpectrogramEncoder(
            NUM_SAMPLES, LOG_MEL, 8, **TINY, **patches, name="audio_encoder"
        ),
    }


def tiny_backbone(
    modalities=("text", "image", "audio"), pooling="mean", image_stem_channels=(), attention=None
):
    """A ~60k-parameter backbone over `modalities` (tiny vocabulary, images and audio).

    `attention`: every tower's attention options (`attention_implementation`, ...).
    """
    encoders = tiny_encoders(pooling, image_stem_channels=image_stem_channels, attention=attention)
    encoders = {key: value for key, value in encoders.items() if key.split("_")[0] in modalities}
    shared = {k: TINY[k] for k in ("hidden_dim", "num_heads", "intermediate_dim")}
    shared.update(attention or {})
    fusion = CrossModalFusionEncoder(modalities, num_layers=1, name="fusion_encoder", **shared)
    decoder = None
    if "text" in modalities:
        decoder = TextDecoder(
            VOCABULARY_SIZE, SEQUENCE_LENGTH, num_layers=1, name="text_decoder", **shared
        )
    return MultimodalBackbone(
        **encoders, fusion_encoder=fusion, text_decoder=decoder, embedding_dim=8, name="backbone"
    )


def tiny_batch(batch_size=3, seed=0, present=None):
    """A random batch with every backbone input (and the pretraining masks)."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(3, SEQUENCE_LENGTH + 1, size=batch_size)
    padding_mask = np.arange(SEQUENCE_LENGTH)[None, :] < lengths[:, None]
    token_ids = np.where(
        padding_mask, rng.integers(5, VOCABULARY_SIZE, (batch_size, SEQUENCE_LENGTH)), 0
    )
    samples = rng.integers(NUM_SAMPLES // 4, NUM_SAMPLES + 1, size=batch_size)
    audio_mask = np.arange(NUM_SAMPLES)[None, :] < samples[:, None]
    audio = np.where(audio_mask, rng.uniform(-0.5, 0.5, (batch_size, NUM_SAMPLES)), 0.0)
    present = present or {}
    batch = {
        "token_ids": token_ids.astype("int32"),
        "padding_mask": padding_mask,
        "images": rng.uniform(0, 1, (batch_size, IMAGE_SIZE, IMAGE_SIZE, 3)).astype("float32"),
        "audio": audio.astype("float32"),
        "audio_padding_mask": audio_mask,
    }
    for m in ("text", "image", "audio"):
        batch[f"{m}_present"] = np.asarray(present.get(m, [True] * batch_size), bool)
    num_masks = 2
    batch["masked_token_ids"] = np.where(np.arange(SEQUENCE_LENGTH) < 2, 4, token_ids).astype(
        "int32"
    )
    batch["mask_positions"] = np.tile(np.arange(num_masks), (batch_size, 1)).astype("int32")
    batch["mask_ids"] = token_ids[:, :num_masks].astype("int32")
    batch["mask_weights"] = np.ones((batch_size, num_masks), "float32")
    batch["image_patch_mask"] = rng.uniform(size=(batch_size, (IMAGE_SIZE // 8) ** 2)) < 0.5
    batch["audio_patch_mask"] = rng.uniform(size=(batch_size, AUDIO_PATCHES)) < 0.5
    return batch


def tiny_vocabulary():
    """`VOCABULARY_SIZE` tokens: the reserved ones, then words `w0`, `w1`, ..."""
    from mmlm.data.preprocessing.vocabulary import RESERVED_TOKENS

    words = [f"w{i}" for i in range(VOCABULARY_SIZE - len(RESERVED_TOKENS))]
    return list(RESERVED_TOKENS) + words


def tiny_preprocessors():
    """Text, image and audio preprocessing layers matching `tiny_backbone`'s input sizes."""
    from mmlm.data.preprocessing.audio_preprocessor import AudioPreprocessor
    from mmlm.data.preprocessing.image_preprocessor import ImagePreprocessor
    from mmlm.data.preprocessing.text_preprocessor import TextPreprocessor

    return {
        "text_preprocessor": TextPreprocessor(tiny_vocabulary(), SEQUENCE_LENGTH),
        "image_preprocessor": ImagePreprocessor(IMAGE_SIZE),
        "audio_preprocessor": AudioPreprocessor(SAMPLE_RATE, NUM_SAMPLES / SAMPLE_RATE),
    }
