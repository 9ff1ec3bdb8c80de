"""Builders that turn the data config into sources and preprocessing layers.

Configs stop here: sources and layers receive plain constructor arguments.
"""

import os

from mmlm.config import ConfigError, DataSource, Modality
from mmlm.data.media_checks import MediaLimits
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


def media_limits(config):
    """The `MediaLimits` of a `DataConfig`: past them, user files are refused, not decoded."""
    return MediaLimits(
        max_pixels=config.image.max_pixels,
        max_audio_seconds=config.audio.max_seconds,
        max_text_bytes=config.text.max_bytes,
    )


def make_source(config):
    """The `Source` that `config.source` names (a `DataConfig`)."""
    if config.source is DataSource.SCENES:
        from mmlm.data.sources.scenes_source import ScenesSource

        s = config.scenes
        return ScenesSource(
            config.data_dir,
            image_size=config.image.image_size,
            sample_rate=config.audio.sample_rate,
            speech_languages=s.speech_languages,
            num_train=s.num_train,
            num_validation=s.num_validation,
            num_test=s.num_test,
            seed=s.seed,
            heldout_combos=s.heldout_combos,
            heldout_fraction=s.heldout_fraction,
        )
    if config.source is DataSource.MANIFEST:
        from mmlm.data.sources.manifest_source import ManifestSource

        return ManifestSource(
            config.manifest.path,
            config.data_dir,
            image_size=config.image.image_size,
            sample_rate=config.audio.sample_rate,
            skip_invalid=config.skip_invalid,
            validation_fraction=config.manifest.validation_fraction,
            seed=config.seed,
            limits=media_limits(config),
        )
    if config.source is DataSource.TFDS:
        from mmlm.data.sources.tfds_source import TFDSSource

        t = config.tfds
        return TFDSSource(
            t.name,
            config.data_dir,
            text_feature=t.text_feature,
            image_feature=t.image_feature,
            audio_feature=t.audio_feature,
            label_feature=t.label_feature,
            splits={"train": t.train_split, "validation": t.validation_split, "test": t.test_split},
        )
    if config.source is DataSource.IDX:
        from mmlm.data.sources.idx_source import IdxSource

        return IdxSource(
            config.data_dir,
            directory=config.idx.directory,
            class_names=config.idx.class_names,
            validation_size=config.idx.validation_size,
        )
    if config.source is DataSource.CATALOGS:
        from mmlm.data.sources.catalog_source import CatalogSource

        c = config.catalogs
        if not c.train_catalogs:
            raise ConfigError("data.source=catalogs needs data.catalogs.train_catalogs")
        return CatalogSource(
            config.data_dir,
            locale_dir=c.locale_dir,
            language=c.language,
            train_catalogs=c.train_catalogs,
            validation_catalogs=c.validation_catalogs,
            test_catalogs=c.test_catalogs,
            max_words=c.max_words,
        )
    raise ValueError(f"unknown data source {config.source}")


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


def log_mel_arguments(config):
    """`LogMelSpectrogram` arguments of the audio config (shared by data and models)."""
    a = config.audio
    return {
        "sample_rate": a.sample_rate,
        "fft_length": a.fft_length,
        "frame_length": a.frame_length,
        "frame_step": a.frame_step,
        "num_mel_bins": a.num_mel_bins,
    }


def audio_preprocessor(config, spectrogram=False):
    return AudioPreprocessor(
        sample_rate=config.audio.sample_rate,
        duration_seconds=config.audio.duration_seconds,
        log_mel=log_mel_arguments(config) if spectrogram else None,
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
        frontend = LogMelSpectrogram(**log_mel_arguments(config))
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
