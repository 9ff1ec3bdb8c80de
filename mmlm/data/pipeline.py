"""The one function that turns any source into batched, preprocessed `tf.data` input.

    source.load(split) → standardized examples → [bootstrap, cache, repeat, shuffle] →
    per-example preprocessing (tokenize, resize/rescale, crop/pad audio [+ log-mel]) in parallel →
    batch → [augmentation and masking, sequential so seeded runs repeat exactly] → prefetch

Batches are dicts: `token_ids`, `padding_mask` (and `<extra>_token_ids`, e.g. for text_es),
`images`, `audio`, `audio_padding_mask` [, `spectrogram`, `spectrogram_padding_mask`],
`text_present` / `image_present` / `audio_present`, the raw `text`, and the source's labels;
with masking also `masked_token_ids`, `mask_positions`, `mask_ids`, `mask_weights`,
`image_patch_mask`, `audio_patch_mask`, and with hard negatives `negative_token_ids`,
`negative_valid` (one word swapped) and `exchange_token_ids`, `exchange_valid` (two words
exchanged).
"""

import tensorflow as tf

from mmlm.data import factory
from mmlm.data.bootstrap import poisson_bootstrap
from mmlm.data.sources.source import MODALITY_KEYS


def _presence(example, modality, source):
    if modality in source.modalities:
        return example[f"{modality}_present"]
    return tf.constant(False)


class _Preprocess:
    """Per-example preprocessing (deterministic, runs in a parallel map)."""

    def __init__(self, config, source, vocabulary, spectrogram):
        self.modalities = {m.value for m in config.modalities}
        self.source = source
        self.image_size = config.image.image_size
        self.text = (
            factory.text_preprocessor(config, vocabulary) if "text" in self.modalities else None
        )
        self.extra_texts = (
            [key for key in config.text.extra_text_features if key in source.text_features]
            if self.text
            else []
        )
        self.image = factory.image_preprocessor(config) if "image" in self.modalities else None
        self.audio = (
            factory.audio_preprocessor(config, spectrogram) if "audio" in self.modalities else None
        )

    def __call__(self, example):
        out = {key: value for key, value in example.items() if not self._consumed(key)}
        if self.text is not None:
            out.update(self.text(example["text"]))
            out["text"] = example["text"]
            out["text_present"] = _presence(example, "text", self.source)
            for key in self.extra_texts:
                out[key] = example[key]  # the raw string: a reference for evaluation
                tokens = self.text(example[key])
                out[f"{key}_token_ids"] = tokens["token_ids"]
                out[f"{key}_padding_mask"] = tokens["padding_mask"]
        if self.image is not None:
            present = _presence(example, "image", self.source)
            out["images"] = tf.cond(
                present,
                lambda: self.image(example["image"]),
                lambda: tf.zeros((self.image_size, self.image_size, 3), tf.float32),
            )
            out["image_present"] = present
        if self.audio is not None:
            out.update(self.audio(example["audio"]))  # empty audio → all-False mask
            out["audio_present"] = _presence(example, "audio", self.source)
        return out

    def _consumed(self, key):
        """Raw modality features this pipeline replaces (or drops as unused)."""
        base = key.removesuffix("_present")
        return base in MODALITY_KEYS or key in self.source.unbatched_features


def build_dataset(
    config,
    split,
    *,
    vocabulary,
    training=False,
    source=None,
    input_context=None,
    objective=None,
    image_patch_size=8,
    spectrogram_patch_size=16,
    spectrogram=False,
    num_parallel_calls=None,
    select=None,
    repeat=False,
):
    """Builds the input pipeline of one split.

    Args:
        config: the `DataConfig`.
        split: "train", "validation" or "test".
        vocabulary: the WordPiece vocabulary (list of tokens) for text.
        training: shuffle, drop the last partial batch, augment images.
        source: a prepared `Source` (default: `factory.make_source(config)`).
        input_context: a `tf.distribute.InputContext`: the batch becomes the per-replica batch
            and this pipeline reads only its share of the files.
        objective: an `ObjectiveConfig` to add the masks of the masked objectives.
        image_patch_size, spectrogram_patch_size: patch sides the masks are drawn over.
        spectrogram: also compute log-mel spectrograms in the pipeline (the model can do it
            instead, from the raw waveform).
        num_parallel_calls: per-example map parallelism (default AUTOTUNE).
        select: optional `dataset -> dataset` over the standardized examples, before
            shuffling (e.g. a `label_selection.LabelSelection`).
        repeat: with `training`, repeat the examples endlessly before shuffling them, so that
            the shuffle buffer stays full across epochs (a shuffle per epoch would refill it
            before the first batch of each). Epochs then blend at their boundaries: near one,
            a batch may hold an example twice (both epochs' copies are in the buffer).
    Returns:
        A `tf.data.Dataset` of dict batches.
    """
    source = source or factory.make_source(config)
    batch_size = config.global_batch_size
    if input_context is not None:
        batch_size = input_context.get_per_replica_batch_size(batch_size)
    parallel = num_parallel_calls or tf.data.AUTOTUNE

    bootstrap = training and split == "train" and config.bootstrap_seed >= 0
    dataset = source.load(
        # A bootstrap keys each example's count on its position: the file order must not move.
        split,
        shuffle_files=training and not bootstrap,
        seed=config.seed,
        input_context=input_context,
    )
    if bootstrap:
        dataset = poisson_bootstrap(dataset, config.bootstrap_seed)
    if select is not None:
        dataset = select(dataset)
    if training and config.shuffle_pairs:
        dataset = _break_pairs(dataset, source, split, config, input_context)
    if training and config.cache_examples:
        dataset = dataset.cache()
    if training and repeat:
        dataset = dataset.repeat()
    if training:
        dataset = dataset.shuffle(
            config.shuffle_buffer, seed=config.seed, reshuffle_each_iteration=True
        )
    preprocess = _Preprocess(config, source, vocabulary, spectrogram)
    dataset = dataset.map(preprocess, num_parallel_calls=parallel, deterministic=True)
    dataset = dataset.batch(batch_size, drop_remainder=training)

    random_maps = []
    if training and preprocess.image is not None and config.image.augment:
        random_maps.append(
            lambda batch: {**batch, "images": preprocess.image.augment_images(batch["images"])}
        )
    if objective is not None:
        generators = factory.mask_generators(
            config, objective, preprocess.text, image_patch_size, spectrogram_patch_size
        )
        random_maps.append(lambda batch: {**batch, **_masks(batch, generators)})
    for random_map in random_maps:
        dataset = dataset.map(random_map)  # sequential: seeded random ops repeat exactly

    options = tf.data.Options()
    options.deterministic = True
    # With an input context, this pipeline reads its shard already. Without one (evaluation
    # data that `fit` distributes), shard by batches: AUTO would shard by file, which fails
    # when a split has fewer files than workers (the small splits are one file).
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.OFF
        if input_context is not None
        else tf.data.experimental.AutoShardPolicy.DATA
    )
    return dataset.with_options(options).prefetch(tf.data.AUTOTUNE)


def _break_pairs(dataset, source, split, config, input_context):
    """Zips the texts with the other features of a differently shuffled pass (control run)."""
    others = source.load(split, shuffle_files=False, seed=config.seed, input_context=input_context)
    others = others.shuffle(100_000, seed=config.seed + 7919, reshuffle_each_iteration=False)
    text_keys = ("text",) + tuple(config.text.extra_text_features)

    def combine(with_text, without_text):
        out = {k: v for k, v in without_text.items() if k not in text_keys}
        out.update({k: with_text[k] for k in text_keys if k in with_text})
        return out

    return tf.data.Dataset.zip((dataset, others)).map(combine)


def _masks(batch, generators):
    out = {}
    if "text" in generators:
        masked = generators["text"](batch["token_ids"])
        out["masked_token_ids"] = masked["token_ids"]
        for key in ("mask_positions", "mask_ids", "mask_weights"):
            out[key] = masked[key]
    if "negatives" in generators:
        out["negative_token_ids"], out["negative_valid"] = generators["negatives"](
            batch["token_ids"]
        )
    if "exchanges" in generators:
        out["exchange_token_ids"], out["exchange_valid"] = generators["exchanges"](
            batch["token_ids"]
        )
    if "image" in generators:
        out["image_patch_mask"] = generators["image"](batch["images"])
    if "audio" in generators:
        out["audio_patch_mask"] = generators["audio"](batch["audio"])
    return out
