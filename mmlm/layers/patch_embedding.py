"""Non-overlapping patches of images or spectrograms, linearly embedded."""

from mmlm.backend import keras, register, tf
from mmlm.layers.prunable import PrunableKernelsMixin


def patch_mask_from_frames(frame_mask, patch_size, mel_patches):
    """(B, T) frame validity → (B, (T // p) · mel_patches) patch validity, time-major.

    A patch is valid when any of its frames is, so the tail of a sound is never dropped.
    """
    frames = tf.shape(frame_mask)[1] // patch_size * patch_size
    per_patch = tf.reshape(frame_mask[:, :frames], (tf.shape(frame_mask)[0], -1, patch_size))
    time_valid = tf.reduce_any(per_patch, axis=-1)  # (B, T/p)
    return tf.repeat(time_valid, mel_patches, axis=1)  # (B, N)


@register
class PatchEmbedding(PrunableKernelsMixin, keras.layers.Layer):
    """Cuts inputs into `patch_size` squares and projects each to `hidden_dim` (a strided conv).

    Images (B, H, W, C) give (H/p)·(W/p) patches in row-major order. Spectrograms (B, T, M)
    are treated as one-channel images: trailing frames that do not fill a patch are dropped and
    patch n = time_patch · (M/p) + mel_patch, the order `mmlm.objectives.patchify_*` uses for
    reconstruction targets. With a (B, T) frame mask, the output mask marks a patch valid when
    any of its frames is.

    Args:
        patch_size: side of the square patches.
        hidden_dim: embedding size.

    Call arguments:
        inputs: (B, H, W, C) images or (B, T, M) spectrograms.
        mask: optional (B, T) frame mask of a spectrogram.

    Returns:
        (B, N, hidden_dim).

    Example:
    >>> PatchEmbedding(8, 32)(tf.zeros((2, 64, 64, 3))).shape
    TensorShape([2, 64, 32])
    """

    def __init__(self, patch_size, hidden_dim, **kwargs):
        super().__init__(**kwargs)
        self.patch_size = patch_size
        self.hidden_dim = hidden_dim
        self.projection = keras.layers.Conv2D(
            hidden_dim, patch_size, strides=patch_size, padding="valid", name="projection"
        )
        self.supports_masking = True

    def build(self, input_shape):
        shape = list(input_shape)
        if len(shape) == 3:
            shape = shape + [1]
        self.projection.build(shape)
        self.built = True

    def _as_image(self, inputs):
        if inputs.shape.rank == 4:
            return inputs
        frames = tf.shape(inputs)[1] // self.patch_size * self.patch_size
        return inputs[:, :frames, :, None]  # (B, T', M, 1)

    def call(self, inputs):
        patches = self.projection(self._as_image(inputs))  # (B, H/p, W/p, D)
        shape = tf.shape(patches)
        return tf.reshape(patches, (shape[0], shape[1] * shape[2], self.hidden_dim))

    def compute_mask(self, inputs, mask=None):
        if mask is None:
            return None
        return patch_mask_from_frames(mask, self.patch_size, inputs.shape[2] // self.patch_size)

    def compute_output_shape(self, input_shape):
        p = self.patch_size
        rows, cols = input_shape[1], input_shape[2]
        count = None if rows is None or cols is None else (rows // p) * (cols // p)
        return tf.TensorShape([input_shape[0], count, self.hidden_dim])

    def get_config(self):
        config = super().get_config()
        config.update({"patch_size": self.patch_size, "hidden_dim": self.hidden_dim})
        return config
