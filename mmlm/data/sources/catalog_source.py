"""Sentence pairs of gettext message catalogs (`CatalogPairs`) as a text-only `Source`."""

import os

import tensorflow as tf

from mmlm.config import ConfigError
from mmlm.data.sources.catalog_builder import CatalogPairs, CatalogPairsConfig
from mmlm.data.sources.source import Source, absent, section_arguments


class CatalogSource(Source):
    """English messages (`text`) and their human translations (`text_<language>`).

    Image and audio are absent; `catalog` names each pair's text domain. Both languages train
    the shared vocabulary.

    Args:
        data_dir: TFDS data directory.
        locale_dir: root of `<language>/LC_MESSAGES/*.mo`.
        language: target language code ("es").
        train_catalogs, validation_catalogs, test_catalogs: text domains of each split.
        max_words: pairs whose longer side has more words are left out (0 = keep all).
    """

    modalities = ("text",)

    def __init__(
        self,
        data_dir,
        *,
        locale_dir,
        language,
        train_catalogs,
        validation_catalogs,
        test_catalogs,
        max_words=0,
    ):
        config = CatalogPairsConfig.create(
            locale_dir=locale_dir,
            language=language,
            train_catalogs=tuple(train_catalogs),
            validation_catalogs=tuple(validation_catalogs),
            test_catalogs=tuple(test_catalogs),
            max_words=max_words,
        )
        builder = CatalogPairs(config=config, data_dir=os.path.abspath(data_dir))
        super().__init__(f"catalogs-{config.name}", builder)
        self.target_key = f"text_{language}"
        self.text_features = ("text", self.target_key)
        self.languages = {"text": "en", self.target_key: language}

    @classmethod
    def from_config(cls, config):
        """The source of a `DataConfig` (`data.source=catalogs`)."""
        if not config.catalogs.train_catalogs:
            raise ConfigError("data.source=catalogs needs data.catalogs.train_catalogs")
        return cls(config.data_dir, **section_arguments(config.catalogs))

    def standardize(self, example):
        return {
            "text": example["text"],
            self.target_key: example["translation"],
            "text_present": tf.constant(True),
            **absent("image", "audio"),
            "catalog": example["catalog"],
        }

    def counts(self):
        """Per split: pairs read, left out (too long, duplicate, English seen in train), kept."""
        return dict(self.builder.info.metadata.get("counts", {}))
