"""Boolean mask helpers as layers, so functional models stay serializable."""

from mmlm.backend import keras, register, tf


@register
class AllValidMask(keras.layers.Layer):
    """A (B, L) all-True padding mask for a (B, L, H) sequence that has no padding (images).

    Example:
    >>> AllValidMask()(tf.zeros((2, 3, 4))).shape
    TensorShape([2, 3])
    """

    def call(self, sequence):
        return tf.ones(tf.shape(sequence)[:2], tf.bool)


@register
class PresenceMask(keras.layers.Layer):
    """Combines a (B, L) padding mask with a (B,) modality-present flag: rows whose modality is
    missing become all-False, so nothing attends to them.

    Example:
    >>> PresenceMask()(tf.ones((2, 3), bool), tf.constant([True, False])).numpy().sum()
    3
    """

    def call(self, padding_mask, present):
        return tf.logical_and(tf.cast(padding_mask, tf.bool), tf.cast(present, tf.bool)[:, None])
