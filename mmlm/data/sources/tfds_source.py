"""Any TFDS data set by name (e.g. `coco_captions`) as a `Source`."""

import tensorflow as tf
import tensorflow_datasets as tfds

from mmlm.data.sources.source import Source, absent


def _get_path(example, path, name):
    value = example
    for part in path.split("/"):
        if not isinstance(value, dict) or part not in value:
            available = sorted(value) if isinstance(value, dict) else []
            raise KeyError(
                f"data.tfds.{name}_feature={path!r}: no feature {part!r}; available: {available}"
            )
        value = value[part]
    return value


class TFDSSource(Source):
    """A TFDS data set (already prepared in `data_dir`) mapped onto the common layout.

    A text feature that is a sequence (e.g. `captions/text` of coco_captions, five captions
    per image) contributes its first element.

    Args:
        name: TFDS name, optionally with config and version ("coco_captions/2017:1.1.0").
        data_dir: TFDS data directory.
        text_feature, image_feature, audio_feature, label_feature: "/"-separated feature
            paths ("" = the data set has no such modality / label).
        splits: mapping of "train"/"validation"/"test" to TFDS split names.
    """

    def __init__(
        self,
        name,
        data_dir,
        *,
        text_feature="",
        image_feature="",
        audio_feature="",
        label_feature="",
        splits=None,
    ):
        if not name:
            raise ValueError("data.source=tfds needs data.tfds.name (e.g. coco_captions)")
        builder = tfds.builder(name, data_dir=data_dir)
        super().__init__(name.replace("/", "-").replace(":", "-"), builder, splits)
        self.paths = {"text": text_feature, "image": image_feature, "audio": audio_feature}
        self.label_feature = label_feature
        self.modalities = tuple(m for m, path in self.paths.items() if path)
        if not self.modalities:
            raise ValueError(
                "data.tfds: set at least one of text_feature, image_feature, audio_feature"
            )

    @classmethod
    def from_config(cls, config):
        """The source of a `DataConfig` (`data.source=tfds`)."""
        t = config.tfds
        return cls(
            t.name,
            config.data_dir,
            text_feature=t.text_feature,
            image_feature=t.image_feature,
            audio_feature=t.audio_feature,
            label_feature=t.label_feature,
            splits={"train": t.train_split, "validation": t.validation_split, "test": t.test_split},
        )

    def standardize(self, example):
        out = {}
        for modality, path in self.paths.items():
            if not path:
                out.update(absent(modality))
                continue
            value = _get_path(example, path, modality)
            if modality == "text" and value.shape.rank == 1:
                present = tf.size(value) > 0
                value = tf.cond(present, lambda v=value: v[0], lambda: tf.constant(""))
            if modality == "image" and value.shape[-1] == 1:
                value = tf.image.grayscale_to_rgb(value)
            out[modality] = value
            out[f"{modality}_present"] = (
                tf.strings.length(value) > 0 if modality == "text" else tf.size(value) > 0
            )
        if self.label_feature:
            out["label"] = _get_path(example, self.label_feature, "label")
        return out
