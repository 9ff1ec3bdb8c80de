"""IDX image classification files (Fashion-MNIST, MNIST, ...) as a `Source`."""

import os

import tensorflow as tf

from mmlm.data.sources.idx_builder import IdxImages, IdxImagesConfig
from mmlm.data.sources.source import Source, absent, section_arguments


class IdxSource(Source):
    """Grayscale images with class labels from a folder of IDX files (`IdxImages`, TFDS).

    Images become RGB (the channel repeated); text and audio are absent. Labels: `label`
    (int32 class id, names from `class_names`) and `index` (int64, the example's position in
    its IDX file: train and validation share the training file, test has its own).

    The public TFDS builders of these sets (`fashion_mnist`, `mnist`) have the same `image` and
    `label` features: with internet access, `data.source=tfds` reads them as well.

    Args:
        data_dir: TFDS data directory (where the prepared copy goes).
        directory: folder holding `train-images-idx3-ubyte[.gz]` and the three other files.
        class_names: names of the label ids, in order.
        validation_size: last training examples kept as the validation split.
        image_side: side of the stored square images.
    """

    modalities = ("image",)
    text_features = ()

    def __init__(self, data_dir, *, directory, class_names, validation_size, image_side=28):
        config = IdxImagesConfig.create(
            directory=directory,
            class_names=tuple(class_names),
            validation_size=validation_size,
            image_side=image_side,
        )
        builder = IdxImages(config=config, data_dir=os.path.abspath(data_dir))
        super().__init__(f"idx-{config.name}", builder)

    @classmethod
    def from_config(cls, config):
        """The source of a `DataConfig` (`data.source=idx`)."""
        return cls(config.data_dir, **section_arguments(config.idx))

    def standardize(self, example):
        return {
            "image": tf.image.grayscale_to_rgb(example["image"]),
            "image_present": tf.constant(True),
            **absent("text", "audio"),
            "label": tf.cast(example["label"], tf.int32),
            "index": example["index"],
        }

    def label_names(self, feature):
        if feature == "label":
            return list(self.builder.info.features["label"].names)
        return None
