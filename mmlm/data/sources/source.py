"""`Source`: one TFDS builder behind every data source, read into one example layout.

Every source yields the same standardized dict, whatever it was stored as:

    text, text_present           tf.string (), bool ()   "" when absent
    image, image_present         uint8 (H, W, 3), bool   an empty (0, 0, 3) image when absent
    audio, audio_present         int16 or float (N,), bool   empty when absent
    <extra>                      further texts/speech a source has (e.g. text_es, audio_es)
    <labels>                     label features (e.g. label, heldout, object_color)

Presence flags mark modalities a row does not have; they never stand in for bad data, which is
reported when the data is prepared (see `validation_report`).
"""

import dataclasses

import tensorflow as tf
import tensorflow_datasets as tfds

MODALITY_KEYS = ("text", "image", "audio")


def absent_value(modality):
    """The empty stand-in of an absent modality (shapes that cannot be mistaken for data)."""
    return {
        "text": tf.constant("", tf.string),
        "image": tf.zeros((0, 0, 3), tf.uint8),
        "audio": tf.zeros((0,), tf.int16),
    }[modality]


def absent(*modalities):
    """The standardized entries of modalities a source does not have: empty, present False."""
    entries = {}
    for modality in modalities:
        entries[modality] = absent_value(modality)
        entries[f"{modality}_present"] = tf.constant(False)
    return entries


def section_arguments(section):
    """A config section's fields as keyword arguments: a source takes its section's settings
    (`data.catalogs`, `data.idx`, `data.scenes`) under the same names."""
    return {field.name: getattr(section, field.name) for field in dataclasses.fields(section)}


class Source:
    """Base class: a prepared TFDS builder plus a `standardize` map into the common layout.

    Subclasses set `self.builder` and implement `standardize(example)`; they may override
    `prepare` (to generate data) and `vocabulary_texts` (which texts train the tokenizer).

    Args:
        name: identifier of the prepared data (used for vocabulary file names).
        builder: the `tfds.core.DatasetBuilder` holding the data.
        splits: mapping of mmlm split name ("train", "validation", "test") to TFDS split.
    """

    def __init__(self, name, builder, splits=None):
        self.name = name
        self.builder = builder
        self.split_names = dict(splits or {s: s for s in ("train", "validation", "test")})

    # Which of text/image/audio this source can provide at all.
    modalities = MODALITY_KEYS
    # Text features tokenized with the shared vocabulary (e.g. ("text", "text_es")).
    text_features = ("text",)
    # Text features that train the vocabulary (None: all of `text_features`).
    vocabulary_features = None
    # Language (ISO 639-1) of each text or speech feature, where the source knows it (a
    # manifest does not: its rows may be in any language). Model cards report it.
    languages = {}
    # Standardized features the pipeline leaves out of batches, besides the raw modalities it
    # replaces: data it does not preprocess (an extra text enters batches only when
    # `data.text.extra_text_features` names it).
    unbatched_features = ()

    def prepare(self):
        """Makes the data available in `data_dir` (generates it when the source can)."""
        self.builder.download_and_prepare()

    def is_prepared(self):
        return self.builder.is_prepared()

    def num_examples(self, split):
        return self.builder.info.splits[self.split_names[split]].num_examples

    def available_splits(self):
        return [
            s
            for s, tfds_split in self.split_names.items()
            if tfds_split in self.builder.info.splits
        ]

    def standardize(self, example):
        raise NotImplementedError

    def load(self, split, *, shuffle_files=False, seed=None, input_context=None):
        """The standardized examples of `split` (unbatched, unshuffled beyond file order).

        Args:
            split: "train", "validation" or "test".
            shuffle_files: shuffle the order of shard files (training).
            seed: seed of the file shuffle.
            input_context: a `tf.distribute.InputContext`; each input pipeline then reads only
                its own shards.
        """
        if split not in self.split_names:
            raise ValueError(f"unknown split {split!r}; expected one of {list(self.split_names)}")
        tfds_split = self.split_names[split]
        if self.is_prepared() and tfds_split not in self.builder.info.splits:
            raise FileNotFoundError(
                f"data set {self.name} has no {split!r} split (it has "
                f"{', '.join(self.available_splits()) or 'none'}); {self.missing_split_hint(split)}"
            )
        if input_context is not None and input_context.num_input_pipelines > 1:
            # Even example ranges rather than file sharding: works with fewer files than input
            # pipelines, and each pipeline still reads only its own range.
            tfds_split = tfds.even_splits(tfds_split, n=input_context.num_input_pipelines)[
                input_context.input_pipeline_id
            ]
        read_config = tfds.ReadConfig(shuffle_seed=seed, try_autocache=False)
        dataset = self.builder.as_dataset(
            split=tfds_split, shuffle_files=shuffle_files, read_config=read_config
        )
        return dataset.map(self.standardize, num_parallel_calls=tf.data.AUTOTUNE)

    def inspection(self):
        """What `mmlm data inspect` reports of this source besides its splits.

        Returns:
            (entries of the JSON report, lines of the text report).
        """
        return {}, []

    def data_report_entries(self):
        """Entries this source adds to a run's `data_report.json` (what its model card says
        about the data) besides the splits, features and languages every source reports:
        e.g. the scenes' held-out colour-shape pairs, a manifest's ingestion counts."""
        return {}

    def describe_example(self, example):
        """Entries `mmlm data inspect` adds to its description of a decoded (NumPy) example."""
        return {}

    def example_problems(self, example, split):
        """Problems `mmlm data inspect` counts in a decoded (NumPy) example of `split`."""
        return ()

    def missing_split_hint(self, split):
        """What the user can do about a split the data does not have."""
        return "evaluate another split with --split"

    def label_names(self, feature):
        """Class names of an int label feature, or None when the source does not know them."""
        return None

    # Label features `attribute_labels` reads (evaluation keeps them for every example).
    attribute_label_features = ()

    def attribute_prompts(self):
        """Zero-shot attributes this source defines besides its label column, or None.

        Returns:
            `{attribute: (class names, prompts per class)}`, each class with as many prompts
            (their text embeddings are averaged), e.g. the colour of a scene's object.
        """
        return None

    def attribute_labels(self, labels):
        """Class ids of the `attribute_prompts` attributes for evaluated examples.

        Args:
            labels: feature → (N, ...) NumPy array of the examples' `attribute_label_features`.
        Returns:
            `{attribute: ((N,) int class ids, (N,) bool scored)}`.
        """
        return {}

    def vocabulary_texts(self, split="train"):
        """Scalar strings that train the WordPiece vocabulary: every text feature of `split`."""
        dataset = self.load(split)
        texts = None
        for key in self.vocabulary_features or self.text_features:
            column = dataset.map(lambda ex, key=key: ex[key]).filter(
                lambda t: tf.strings.length(t) > 0
            )
            texts = column if texts is None else texts.concatenate(column)
        return texts
