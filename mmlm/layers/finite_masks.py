"""Attention masking without huge constants, so that full-integer TFLite keeps the scores.

Keras masks attention by adding -1e9 to the scores of masked keys. A full-integer (int8) TFLite
model quantizes that sum over [-1e9, max score]: every real score then rounds to the same value
and attention turns uniform over real and padded keys alike. On the demo model the text
embedding's cosine to float fell to 0.40 (the unmasked image tower kept 0.999).
"""

from mmlm.backend import keras, register, tf

# How far below the row's lowest score masked keys are put: exp(-30) ≈ 1e-13, so in float they
# get no weight, and the quantized range grows by only 30 over the scores' own spread.
MASK_MARGIN = 30.0


@register
class FiniteMaskSoftmax(keras.layers.Softmax):
    """Softmax that gives masked positions the row's lowest score minus `MASK_MARGIN`.

    Every masked position ends at least `MASK_MARGIN` below every real one, whatever the
    scores' spread (a fixed bias would not: a masked score far above the real ones would leak
    through), so its weight is at most exp(-MASK_MARGIN) times the smallest real weight. A row
    with no real position is uniform, as with Keras' -1e9.

    Call arguments: those of `keras.layers.Softmax` (`mask` True or 1 for positions to keep).
    """

    def call(self, inputs, mask=None):
        if mask is not None:
            keep = tf.cast(mask, tf.bool)
            axis = self.axis if isinstance(self.axis, (list, tuple)) else [self.axis]
            lowest = tf.reduce_min(inputs, axis=axis, keepdims=True)
            inputs = tf.where(keep, inputs, lowest - tf.cast(MASK_MARGIN, inputs.dtype))
        return super().call(inputs)


def use_finite_masks(attention):
    """Swaps a built `MultiHeadAttention`'s softmax for `FiniteMaskSoftmax` (same axes)."""
    softmax = attention._softmax
    attention._softmax = FiniteMaskSoftmax(axis=softmax.axis, dtype=softmax.dtype_policy)
