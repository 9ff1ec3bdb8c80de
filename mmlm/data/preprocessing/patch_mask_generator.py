"""Random patch masks for masked image / spectrogram modelling (MAE-style)."""

import tensorflow as tf

from mmlm.backend import keras, register
from mmlm.layers.config_fields import with_fields


@register
class PatchMaskGenerator(keras.layers.Layer):
    """Draws, per example, a boolean mask over `num_patches` with a fixed masked share.

    Exactly `round(mask_ratio * num_patches)` patches are masked in every example (as in MAE),
    chosen uniformly without replacement by ranking uniform noise.

    Args:
        num_patches: patches per example (e.g. (64 / 8) ** 2 for images).
        mask_ratio: share of patches masked, in [0, 1).
        seed: op-level seed of the noise.

    Call arguments:
        inputs: any tensor whose first dimension is the batch size (e.g. the images), or a
            scalar tensor / unbatched example for one mask.

    Returns:
        bool (B, num_patches), True where a patch is masked ((num_patches,) for one example).

    Example:
    >>> PatchMaskGenerator(num_patches=64, mask_ratio=0.75, seed=1)(images).shape
    TensorShape([B, 64])
    """

    def __init__(self, num_patches, mask_ratio=0.75, seed=None, batched=True, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= mask_ratio < 1.0:
            raise ValueError(f"mask_ratio must be in [0, 1), got {mask_ratio}")
        self.num_patches = num_patches
        self.mask_ratio = mask_ratio
        self.seed = seed
        self.batched = batched
        self.num_masked = int(round(mask_ratio * num_patches))

    def call(self, inputs):
        batch_size = tf.shape(inputs)[0] if self.batched else 1
        noise = tf.random.uniform((batch_size, self.num_patches), seed=self.seed)  # (B, N)
        ranks = tf.argsort(tf.argsort(noise, axis=-1), axis=-1)
        mask = ranks < self.num_masked  # (B, N): the num_masked lowest noises
        return mask if self.batched else mask[0]

    def get_config(self):
        return with_fields(
            super().get_config(), self, ("num_patches", "mask_ratio", "seed", "batched")
        )
