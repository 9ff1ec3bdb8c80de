"""Projection into the shared, L2-normalized embedding space."""

from mmlm.backend import keras, register, tf
from mmlm.layers.config_fields import with_fields
from mmlm.layers.prunable import PrunableKernelsMixin


@register
class ProjectionHead(PrunableKernelsMixin, keras.layers.Layer):
    """LayerNorm → Dense → L2 normalization (float32 output, also under mixed precision).

    Args:
        embedding_dim: size of the shared embedding space.

    Call arguments:
        inputs: (B, H) pooled encoder output.

    Returns:
        (B, embedding_dim) unit vectors (a zero input row stays finite).

    Example:
    >>> ProjectionHead(16)(tf.ones((2, 8))).shape
    TensorShape([2, 16])
    """

    def __init__(self, embedding_dim, **kwargs):
        super().__init__(**kwargs)
        self.embedding_dim = embedding_dim
        self.norm = keras.layers.LayerNormalization(epsilon=1e-6, dtype="float32", name="norm")
        self.dense = keras.layers.Dense(embedding_dim, use_bias=False, name="dense")

    def build(self, input_shape):
        self.norm.build(input_shape)
        self.dense.build(input_shape)
        self.built = True

    def call(self, inputs):
        projected = tf.cast(self.dense(self.norm(tf.cast(inputs, tf.float32))), tf.float32)
        return tf.math.l2_normalize(projected, axis=-1, epsilon=1e-12)

    def compute_output_shape(self, input_shape):
        return tf.TensorShape([input_shape[0], self.embedding_dim])

    def get_config(self):
        return with_fields(super().get_config(), self, ("embedding_dim",))
