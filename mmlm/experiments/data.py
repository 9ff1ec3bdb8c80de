"""The data side of an experiment: prepared source, vocabulary and dataset functions."""

import dataclasses

from mmlm.data import factory
from mmlm.data.label_selection import label_selection
from mmlm.data.pipeline import build_dataset
from mmlm.data.prepare import load_prepared
from mmlm.models import ENCODER_INPUTS

_MASK_FEATURES = {
    "text": ("masked_token_ids", "mask_positions", "mask_ids", "mask_weights"),
    "image": ("image_patch_mask",),
    "audio": ("audio_patch_mask",),
}


class ExperimentData:
    """The prepared data of an `ExperimentConfig` and the dataset builders the trainer calls.

    Args:
        config: the `ExperimentConfig`.
    """

    def __init__(self, config):
        self.config = config
        self.source, self.vocabulary = load_prepared(config.data)
        self.modalities = tuple(
            m for m in ("text", "image", "audio") if m in {x.value for x in config.data.modalities}
        )

    @property
    def vocabulary_size(self):
        return len(self.vocabulary or [])

    def text_preprocessor(self):
        return factory.text_preprocessor(self.config.data, self.vocabulary)

    def dataset(
        self,
        split,
        input_context=None,
        global_batch_size=None,
        *,
        masks=True,
        training=None,
        repeat=False,
    ):
        """Batches of `split` (all features: model inputs, masks, raw text and labels).

        `training` (default: `split == "train"`) shuffles, augments and, in a control run,
        breaks the pairs; evaluation passes False to see the real pairs of any split. Training
        on "train" keeps only the labelled (and pseudo-labelled) examples of a semi-supervised
        task (`task.num_labelled`, `task.pseudo_labels`). `repeat` makes training data endless
        (see `build_dataset`).
        """
        training = split == "train" if training is None else training
        data = self.config.data
        if global_batch_size is not None:
            data = dataclasses.replace(data, global_batch_size=global_batch_size)
        return build_dataset(
            data,
            split,
            vocabulary=self.vocabulary,
            training=training,
            source=self.source,
            input_context=input_context,
            objective=self.config.objective if masks else None,
            image_patch_size=self.config.model.image_patch_size,
            spectrogram_patch_size=self.config.model.spectrogram_patch_size,
            num_parallel_calls=self.config.runtime.num_parallel_calls or None,
            select=label_selection(self.config.task) if training and split == "train" else None,
            repeat=repeat,
        )

    def training_dataset(self, split, input_context=None, global_batch_size=None):
        """Only the numeric features a pretraining step reads (no strings: XLA-safe).

        The "train" split is endless, repeated before its shuffle (see `build_dataset`); the
        trainer repeats only finite data.
        """
        keys = self.feature_keys()
        repeat = split == "train"
        return self.dataset(split, input_context, global_batch_size, repeat=repeat).map(
            lambda batch: {key: batch[key] for key in keys}
        )

    def feature_keys(self):
        keys = []
        for m in self.modalities:
            keys += list(ENCODER_INPUTS[m]) + [f"{m}_present"] + list(_MASK_FEATURES[m])
        if "text" in self.modalities:
            if self.config.objective.hard_negative_words:
                keys += ["negative_token_ids", "negative_valid"]
            if self.config.objective.exchange_negative_words:
                keys += ["exchange_token_ids", "exchange_valid"]
            # Targets and sources of generation tasks.
            for key in self.source.text_features:
                if key in self.config.data.text.extra_text_features:
                    keys += [f"{key}_token_ids", f"{key}_padding_mask"]
        if self.config.task.label_feature:
            keys.append(self.config.task.label_feature)
        return keys
