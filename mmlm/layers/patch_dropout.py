"""FLIP-style patch dropout: training passes see a random subset of the patch tokens."""

import math

from mmlm.backend import keras, register, tf
from mmlm.layers.config_fields import with_fields


@register
class PatchDropout(keras.layers.Layer):
    """Keeps a random `1 - rate` share of each row's valid patch tokens in training.

    Li et al., "Scaling Language-Image Pre-training via Masking" (FLIP, 2023): dropping 50-75 %
    of the patches of an image encoder's training passes makes each step that much cheaper.
    Call it after the position encodings (kept tokens keep their positions); outside training
    (evaluation, export) it returns its inputs unchanged.

    The output has a fixed length K = ceil(N · (1 - rate)) (N patches per row), so shapes stay
    static: a row keeps ceil(V · (1 - rate)) of its V valid patches, chosen uniformly, and the
    remaining slots of rows with padding hold padding (mask False).

    Args:
        rate: share of patches dropped, in [0, 1).

    Call arguments:
        sequence: (B, N, H) patch tokens.
        padding_mask: (B, N) bool, True for valid patches.
        training: drop only when True.

    Returns:
        (sequence (B, K, H), padding_mask (B, K)); the inputs themselves outside training.

    Example:
    >>> tokens, mask = PatchDropout(0.75)(tf.zeros((2, 16, 8)), tf.ones((2, 16), bool),
    ...                                   training=True)
    >>> tokens.shape, int(tf.reduce_sum(tf.cast(mask, tf.int32)))
    (TensorShape([2, 4, 8]), 8)
    """

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"PatchDropout rate must be in [0, 1), got {rate!r}.")
        self.rate = rate
        self.seed = seed

    def call(self, sequence, padding_mask, training=None):
        if not training or self.rate == 0.0:
            return sequence, padding_mask
        num_patches = sequence.shape[1]
        kept = math.ceil(num_patches * (1.0 - self.rate))
        valid = tf.cast(padding_mask, tf.bool)
        noise = tf.random.uniform(tf.shape(valid), seed=self.seed)
        # Valid patches first in a random order, then the padding ones.
        order = tf.argsort(tf.where(valid, noise, noise + 2.0), axis=1)[:, :kept]  # (B, K)
        valid_count = tf.reduce_sum(tf.cast(valid, tf.float32), axis=1, keepdims=True)
        keep_count = tf.math.ceil(valid_count * (1.0 - self.rate))  # (B, 1)
        rank = tf.range(kept, dtype=tf.float32)[None, :]
        mask = tf.gather(valid, order, batch_dims=1) & (rank < keep_count)
        return tf.gather(sequence, order, batch_dims=1), mask

    def get_config(self):
        return with_fields(super().get_config(), self, ("rate", "seed"))
