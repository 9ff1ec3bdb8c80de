"""Small learned vectors: class/null tokens, mask tokens and modality embeddings."""

from mmlm.backend import keras, register, tf
from mmlm.layers.config_fields import with_fields


class _LearnedVector(keras.layers.Layer):
    """Holds one learned (hidden_dim,) vector named `weight_name`."""

    weight_name = "token"

    def __init__(self, hidden_dim, **kwargs):
        super().__init__(**kwargs)
        self.hidden_dim = hidden_dim

    def build(self, input_shape):
        self.vector = self.add_weight(
            self.weight_name,
            shape=(self.hidden_dim,),
            initializer=keras.initializers.TruncatedNormal(stddev=0.02),
        )
        self.built = True

    def _tiled(self, sequence):
        """The vector as (B, 1, H), in the sequence's dtype."""
        vector = tf.cast(self.vector, sequence.dtype)
        return tf.tile(vector[None, None, :], (tf.shape(sequence)[0], 1, 1))

    def get_config(self):
        return with_fields(super().get_config(), self, ("hidden_dim",))


@register
class PrependToken(_LearnedVector):
    """Prepends a learned token (a class token, or an always-valid null token) to a sequence.

    Args:
        hidden_dim: token size.

    Call arguments:
        sequence: (B, L, H).
        padding_mask: optional (B, L) bool; the returned mask marks the token valid.

    Returns:
        (B, L + 1, H) and, with a padding mask, the (B, L + 1) mask.

    Example:
    >>> PrependToken(8)(tf.zeros((2, 3, 8))).shape
    TensorShape([2, 4, 8])
    """

    weight_name = "class_token"

    def call(self, sequence, padding_mask=None):
        out = tf.concat([self._tiled(sequence), sequence], axis=1)
        if padding_mask is None:
            return out
        valid = tf.ones((tf.shape(padding_mask)[0], 1), padding_mask.dtype)  # L may be 0
        return out, tf.concat([valid, padding_mask], axis=1)


@register
class MaskTokens(_LearnedVector):
    """Replaces the masked positions of a sequence by a learned mask token (SimMIM/BERT style).

    Call arguments:
        sequence: (B, N, H) patch embeddings.
        mask: (B, N) bool, True where the patch is hidden from the encoder.

    Example:
    >>> MaskTokens(8)(tf.ones((1, 2, 8)), tf.constant([[True, False]])).shape
    TensorShape([1, 2, 8])
    """

    weight_name = "mask_token"

    def call(self, sequence, mask):
        token = tf.cast(self.vector, sequence.dtype)[None, None, :]
        return tf.where(mask[:, :, None], token, sequence)


@register
class ModalityEmbedding(_LearnedVector):
    """Adds a learned per-modality vector, so fused sequences keep track of their source.

    Call arguments:
        sequence: (B, L, H).

    Example:
    >>> ModalityEmbedding(8)(tf.zeros((2, 3, 8))).shape
    TensorShape([2, 3, 8])
    """

    weight_name = "modality_embedding"

    def call(self, sequence):
        return sequence + tf.cast(self.vector, sequence.dtype)[None, None, :]
