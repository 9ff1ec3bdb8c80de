"""Images of any size → float32 [0, 1] squares, with keras-cv augmentation for training."""

import tensorflow as tf

from mmlm.backend import keras, keras_cv, register
from mmlm.layers.config_fields import with_fields


def _stream(seed, index):
    """Distinct seeds per augmentation layer, so they do not draw the same random numbers."""
    return None if not seed else seed * 7 + index


@register
class ImagePreprocessor(keras.layers.Layer):
    """Resizes and rescales images; augments them only when `training=True`.

    Args:
        image_size: side of the square output.
        augment: whether training calls apply the augmentations below.
        random_translation: max shift as a fraction of the side (0 disables).
        random_contrast: contrast jitter factor (0 disables).
        random_flip: random horizontal flips.
        seed: seed of the augmentation layers (each gets its own stream derived from it;
            None or 0 means unseeded, as everywhere in Keras).

    Call arguments:
        inputs: uint8 images (values 0..255) or float images (values in [0, 1]), one (H, W, C)
            or a batch (B, H, W, C), C = 1 or 3, any H and W.
        training: apply augmentation (when `augment`).

    Returns:
        float32 images (..., image_size, image_size, 3) with values in [0, 1].

    Example:
    >>> ImagePreprocessor(image_size=64)(tf.zeros((2, 100, 80, 3), tf.uint8)).shape
    TensorShape([2, 64, 64, 3])
    """

    def __init__(
        self,
        image_size=64,
        augment=False,
        random_translation=0.0,
        random_contrast=0.0,
        random_flip=False,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.image_size = image_size
        self.augment = augment
        self.random_translation = random_translation
        self.random_contrast = random_contrast
        self.random_flip = random_flip
        self.seed = seed
        self.augmentations = []
        if random_translation:
            self.augmentations.append(
                keras_cv.layers.RandomTranslation(
                    random_translation,
                    random_translation,
                    fill_mode="nearest",
                    seed=_stream(seed, 0),
                    name="random_translation",
                )
            )
        if random_contrast:
            self.augmentations.append(
                keras_cv.layers.RandomContrast(
                    value_range=(0, 1),
                    factor=random_contrast,
                    seed=_stream(seed, 1),
                    name="random_contrast",
                )
            )
        if random_flip:
            self.augmentations.append(
                keras_cv.layers.RandomFlip("horizontal", seed=_stream(seed, 2), name="random_flip")
            )

    def call(self, inputs, training=False):
        images = tf.convert_to_tensor(inputs)
        if images.dtype == tf.uint8:
            images = tf.cast(images, tf.float32) / 255.0
        images = tf.cast(images, tf.float32)
        if images.shape[-1] == 1:
            images = tf.image.grayscale_to_rgb(images)
        images = tf.image.resize(
            images, (self.image_size, self.image_size), method="bilinear", antialias=True
        )  # (..., S, S, 3)
        if training and self.augment:
            images = self.augment_images(images)
        return tf.clip_by_value(images, 0.0, 1.0)

    def augment_images(self, images):
        """Applies the configured augmentations to preprocessed images (batched or not).

        The input pipeline calls this after batching, in a sequential map, so that seeded
        augmentation repeats exactly from run to run.
        """
        for augmentation in self.augmentations:
            images = augmentation(images, training=True)
        return tf.clip_by_value(images, 0.0, 1.0)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-3]) + (self.image_size, self.image_size, 3)

    def get_config(self):
        return with_fields(
            super().get_config(),
            self,
            (
                "image_size",
                "augment",
                "random_translation",
                "random_contrast",
                "random_flip",
                "seed",
            ),
        )
