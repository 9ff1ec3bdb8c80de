"""Manual pages (`ManPages`) as a text-only `Source`."""

import os

import tensorflow as tf

from mmlm.data.sources.manpages_builder import ManPages, ManPagesConfig
from mmlm.data.sources.source import Source, absent_value


class ManPagesSource(Source):
    """Prose of manual pages: `text` (a paragraph, or a page's DESCRIPTION start), `page`,
    `section` (int32 label: index in `sections`) and, per page, `summary` (its NAME line).

    Image and audio are absent. With `unit="pages"`, `summary` is a second text feature (the
    target of summarization); both train the vocabulary.

    Args:
        data_dir: TFDS data directory.
        man_dir: root of `man<section>/` folders.
        packages: Debian packages whose pages are read (empty: every page under `man_dir`).
        sections: manual sections kept, in label order.
        unit: "paragraphs" or "pages".
        max_words: paragraphs are cut into pieces of at most this many words; page
            descriptions are cut to it.
        min_words: shorter paragraph pieces are left out (counted).
        validation_percent, test_percent: shares of pages (by a hash of their name) in the
            validation and test splits.
    """

    modalities = ("text",)

    def __init__(self, data_dir, **parameters):
        parameters = dict(parameters, packages=tuple(parameters["packages"]))
        parameters["sections"] = tuple(parameters["sections"])
        config = ManPagesConfig.create(**parameters)
        builder = ManPages(config=config, data_dir=os.path.abspath(data_dir))
        super().__init__(f"manpages-{config.name}", builder)
        self.unit = config.unit
        self.text_features = ("text", "summary") if self.unit == "pages" else ("text",)

    @classmethod
    def from_config(cls, config):
        """The source of a `DataConfig` (`data.source=manpages`)."""
        c = config.manpages
        return cls(
            config.data_dir,
            man_dir=c.man_dir,
            packages=c.packages,
            sections=c.sections,
            unit=c.unit.value,
            max_words=c.max_words,
            min_words=c.min_words,
            validation_percent=c.validation_percent,
            test_percent=c.test_percent,
        )

    def standardize(self, example):
        out = {
            "text": example["text"],
            "text_present": tf.constant(True),
            "image": absent_value("image"),
            "image_present": tf.constant(False),
            "audio": absent_value("audio"),
            "audio_present": tf.constant(False),
            "page": example["page"],
            "section": tf.cast(example["section"], tf.int32),
        }
        if self.unit == "pages":
            out["summary"] = example["summary"]
        return out

    def label_names(self, feature):
        if feature == "section":
            return [f"section {name}" for name in self.builder.info.features["section"].names]
        return None

    def counts(self):
        """Pages read and left out (by reason), and examples per split."""
        return dict(self.builder.info.metadata.get("counts", {}))
