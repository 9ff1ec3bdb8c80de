"""Sequence pooling that respects padding."""

from mmlm.backend import keras, register, tf
from mmlm.layers.config_fields import with_fields

POOLING_MODES = ("class_token", "mean")


@register
class MaskedPooling(keras.layers.Layer):
    """Pools (B, L, H) into (B, H): the first position, or the mean of valid positions.

    Args:
        mode: "class_token" (position 0) or "mean" (over positions where the mask is True).

    Call arguments:
        sequence: (B, L, H).
        padding_mask: optional (B, L) bool (mean mode). A row without valid positions pools to
            zeros (there is nothing to average, e.g. a missing modality).

    Example:
    >>> MaskedPooling("mean")(tf.ones((2, 3, 4)), tf.constant([[1, 1, 0], [1, 0, 0]]) > 0).shape
    TensorShape([2, 4])
    """

    def __init__(self, mode="mean", **kwargs):
        super().__init__(**kwargs)
        if mode not in POOLING_MODES:
            raise ValueError(f"`mode` must be one of {POOLING_MODES}, got {mode!r}.")
        self.mode = mode

    def call(self, sequence, padding_mask=None):
        if self.mode == "class_token":
            return sequence[:, 0]
        if padding_mask is None:
            return tf.reduce_mean(sequence, axis=1)
        weights = tf.cast(padding_mask, sequence.dtype)[:, :, None]  # (B, L, 1)
        total = tf.reduce_sum(sequence * weights, axis=1)  # (B, H)
        count = tf.reduce_sum(weights, axis=1)  # (B, 1)
        return tf.math.divide_no_nan(total, count)

    def get_config(self):
        return with_fields(super().get_config(), self, ("mode",))
