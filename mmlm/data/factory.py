"""Builders that turn the data config into sources and preprocessing layers.

Configs stop here: sources and layers receive plain constructor arguments.
"""

import importlib
import os

from mmlm.config import ConfigError, DataSource, Modality
from mmlm.data.preprocessing import vocabulary as vocab_lib
from mmlm.data.preprocessing.audio_preprocessor import AudioPreprocessor
from mmlm.data.preprocessing.image_preprocessor import ImagePreprocessor
from mmlm.data.preprocessing.masked_lm_mask_generator import MaskedLMMaskGenerator
from mmlm.data.preprocessing.multimodal_preprocessor import MultimodalPreprocessor
from mmlm.data.preprocessing.patch_mask_generator import PatchMaskGenerator
from mmlm.data.preprocessing.text_preprocessor import TextPreprocessor
from mmlm.data.preprocessing.word_exchange import WordExchangeNegatives
from mmlm.data.preprocessing.word_swap import WordSwapNegatives
from mmlm.layers.log_mel_spectrogram import LogMelSpectrogram


def layer_seed(config, stream):
    """A distinct, never-zero seed per random preprocessing layer.

    Keras and keras-cv treat `seed=0` as "unseeded", so `data.seed=0` must not reach a layer.
    """
    return config.seed * 1000 + stream


# `DataSource` → the module and class of its `Source`. Each source builds itself from the data
# config (`Source.from_config`) and is imported only when used. A new source: an enum member in
# mmlm/config/data.py, a `Source` subclass, and a line here.
SOURCES = {
    DataSource.SCENES: ("mmlm.data.sources.scenes_source", "ScenesSource"),
    DataSource.MANIFEST: ("mmlm.data.sources.manifest_source", "ManifestSource"),
    DataSource.TFDS: ("mmlm.data.sources.tfds_source", "TFDSSource"),
    DataSource.IDX: ("mmlm.data.sources.idx_source", "IdxSource"),
    DataSource.CATALOGS: ("mmlm.data.sources.catalog_source", "CatalogSource"),
    DataSource.MANPAGES: ("mmlm.data.sources.manpages_source", "ManPagesSource"),
}


def make_source(config):
    """The `Source` that `config.source` names (a `DataConfig`)."""
    if config.source not in SOURCES:
        raise ValueError(f"unknown data source {config.source}")
    module, name = SOURCES[config.source]
    return getattr(importlib.import_module(module), name).from_config(config)


def vocabulary_path(config, source):
    """Where the WordPiece vocabulary trained on `source`'s training texts is stored."""
    filename = f"{source.name}-wordpiece{config.text.vocabulary_size or 'auto'}.txt"
    return os.path.join(config.data_dir, "vocabularies", filename)


def text_preprocessor(config, vocabulary):
    return TextPreprocessor(
        vocabulary,
        sequence_length=config.text.sequence_length,
        lowercase=config.text.lowercase,
        name="text_preprocessor",
    )


def image_preprocessor(config):
    i = config.image
    return ImagePreprocessor(
        image_size=i.image_size,
        augment=i.augment,
        random_translation=i.random_translation,
        random_contrast=i.random_contrast,
        random_flip=i.random_flip,
        seed=layer_seed(config, 1),
        name="image_preprocessor",
    )


def multimodal_preprocessor(config, vocabulary):
    """The inference-time `MultimodalPreprocessor` of `config.modalities` (no augmentation)."""
    modalities = {m.value for m in config.modalities}
    return MultimodalPreprocessor(
        text_preprocessor=text_preprocessor(config, vocabulary) if "text" in modalities else None,
        image_preprocessor=ImagePreprocessor(config.image.image_size, name="image_preprocessor")
        if "image" in modalities
        else None,
        audio_preprocessor=audio_preprocessor(config) if "audio" in modalities else None,
        name="preprocessor",
    )


def audio_preprocessor(config, spectrogram=False):
    return AudioPreprocessor(
        sample_rate=config.audio.sample_rate,
        duration_seconds=config.audio.duration_seconds,
        log_mel=config.audio.log_mel_arguments() if spectrogram else None,
        name="audio_preprocessor",
    )


def swap_groups(groups, text_pre, field="hard_negative_words"):
    """Token ids of the word groups `ObjectiveConfig.<field>`; each word must be one token."""
    ids = []
    for group in groups:
        ids.append([])
        for word in group.split():
            tokens = text_pre.tokenizer.tokenize(word).numpy().tolist()
            if len(tokens) != 1:
                pieces = [text_pre.vocabulary[t] for t in tokens]
                raise ConfigError(
                    f"objective.{field}: {word!r} is not one token of the "
                    f"vocabulary (it becomes {pieces}); use words the vocabulary holds whole."
                )
            ids[-1].append(tokens[0])
    return ids


def mask_generators(config, objective, text_pre, image_patch_size, spectrogram_patch_size):
    """Masking layers for the masked objectives, keyed by the modality they mask."""
    modalities = set(config.modalities)
    generators = {}
    if Modality.TEXT in modalities:
        special = [text_pre.token_id(t) for t in (vocab_lib.PAD, vocab_lib.START, vocab_lib.END)]
        generators["text"] = MaskedLMMaskGenerator(
            vocabulary_size=text_pre.vocabulary_size,
            mask_selection_rate=objective.mlm_selection_rate,
            mask_selection_length=objective.mlm_max_selections,
            mask_token_id=text_pre.token_id(vocab_lib.MASK),
            unselectable_token_ids=special,
            seed=layer_seed(config, 2),
            name="mlm_mask_generator",
        )
        if objective.hard_negative_words:
            generators["negatives"] = WordSwapNegatives(
                swap_groups(objective.hard_negative_words, text_pre),
                seed=layer_seed(config, 5),
                name="hard_negative_generator",
            )
        if objective.exchange_negative_words:
            generators["exchanges"] = WordExchangeNegatives(
                swap_groups(objective.exchange_negative_words, text_pre, "exchange_negative_words"),
                seed=layer_seed(config, 6),
                name="exchange_negative_generator",
            )
    if Modality.IMAGE in modalities:
        side = config.image.image_size // image_patch_size
        generators["image"] = PatchMaskGenerator(
            side * side,
            objective.image_mask_ratio,
            seed=layer_seed(config, 3),
            name="image_mask_generator",
        )
    if Modality.AUDIO in modalities:
        frontend = LogMelSpectrogram(**config.audio.log_mel_arguments())
        max_samples = int(round(config.audio.sample_rate * config.audio.duration_seconds))
        frames = frontend.num_frames(max_samples)
        num_patches = (frames // spectrogram_patch_size) * (
            config.audio.num_mel_bins // spectrogram_patch_size
        )
        generators["audio"] = PatchMaskGenerator(
            num_patches,
            objective.audio_mask_ratio,
            seed=layer_seed(config, 4),
            name="audio_mask_generator",
        )
    return generators
