"""Patches of images or spectrograms, embedded linearly or through a small convolutional stem."""

from mmlm.backend import keras, register, tf
from mmlm.layers.config_fields import with_fields
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

    With `stem_channels`, a convolutional stem (Xiao et al. 2021, "Early convolutions help
    transformers see better") comes first: one 3x3 stride-2 ReLU conv per entry, then the
    projection with kernel and stride `patch_size / 2^len(stem_channels)` (1x1 when the stem
    does the whole stride). Each patch embedding then sees a little past its square (7 px past
    its right and bottom borders with three stem convs), and strokes and corners are features
    before the first attention layer: the shapes and digits of small images are learned much
    sooner. So that masked patch modelling cannot read a masked patch through its neighbours'
    stem, a `patch_mask` zeroes the masked patches' pixels before the stem.

    Images (B, H, W, C) give (H/p)·(W/p) patches in row-major order. Spectrograms (B, T, M)
    are treated as one-channel images: trailing frames that do not fill a patch are dropped and
    patch n = time_patch · (M/p) + mel_patch, the order `mmlm.objectives.patchify_*` uses for
    reconstruction targets. With a (B, T) frame mask, the output mask marks a patch valid when
    any of its frames is.

    Args:
        patch_size: side of the square patches.
        hidden_dim: embedding size.
        stem_channels: channels of each 3x3 stride-2 stem conv (empty: no stem, a linear
            patch projection). `patch_size` must be divisible by 2^len(stem_channels).

    Call arguments:
        inputs: (B, H, W, C) images or (B, T, M) spectrograms.
        patch_mask: optional (B, N) bool, patches to hide from the stem (masked modelling).
        mask: optional (B, T) frame mask of a spectrogram.

    Returns:
        (B, N, hidden_dim).

    Example:
    >>> PatchEmbedding(8, 32)(tf.zeros((2, 64, 64, 3))).shape
    TensorShape([2, 64, 32])
    """

    def __init__(self, patch_size, hidden_dim, stem_channels=(), **kwargs):
        super().__init__(**kwargs)
        stem_stride = 2 ** len(stem_channels)
        if patch_size % stem_stride:
            raise ValueError(
                f"patch_size {patch_size} is not divisible by the stem's stride {stem_stride} "
                f"({len(stem_channels)} stride-2 convs, stem_channels={tuple(stem_channels)})."
            )
        self.patch_size = patch_size
        self.hidden_dim = hidden_dim
        self.stem_channels = tuple(stem_channels)
        # Attributes, not a list: quantization-aware training wraps a layer's Conv2D attributes.
        for index, channels in enumerate(self.stem_channels):
            name = f"stem_conv_{index}"
            conv = keras.layers.Conv2D(
                channels, 3, strides=2, padding="same", activation="relu", name=name
            )
            setattr(self, name, conv)
        projection_size = patch_size // stem_stride
        self.projection = keras.layers.Conv2D(
            hidden_dim, projection_size, strides=projection_size, name="projection"
        )
        self.supports_masking = True

    def build(self, input_shape):
        shape = tf.TensorShape(list(input_shape) + [1] if len(input_shape) == 3 else input_shape)
        for conv in self._stem():
            conv.build(shape)
            shape = conv.compute_output_shape(shape)
        self.projection.build(shape)
        self.built = True

    def _stem(self):
        return [getattr(self, f"stem_conv_{index}") for index in range(len(self.stem_channels))]

    def _as_image(self, inputs):
        if inputs.shape.rank == 4:
            return inputs
        frames = tf.shape(inputs)[1] // self.patch_size * self.patch_size
        return inputs[:, :frames, :, None]  # (B, T', M, 1)

    def call(self, inputs, patch_mask=None):
        x = self._as_image(inputs)
        if patch_mask is not None and self.stem_channels:
            x = self._hide_patches(x, patch_mask)
        for conv in self._stem():
            x = conv(x)  # (B, H/2^k, W/2^k, C_k) after k convs
        patches = self.projection(x)  # (B, H/p, W/p, D)
        shape = tf.shape(patches)
        return tf.reshape(patches, (shape[0], shape[1] * shape[2], self.hidden_dim))

    def _hide_patches(self, x, patch_mask):
        """Zeroes the pixels of masked patches: (B, H, W, C) and (B, N) → (B, H, W, C)."""
        p = self.patch_size
        shape = tf.shape(x)
        grid = tf.reshape(patch_mask, (shape[0], shape[1] // p, shape[2] // p, 1))
        pixels = tf.repeat(tf.repeat(grid, p, axis=1), p, axis=2)  # (B, H, W, 1)
        return tf.where(pixels, tf.zeros_like(x), x)

    def compute_mask(self, inputs, mask=None, patch_mask=None):
        if mask is None:
            return None
        return patch_mask_from_frames(mask, self.patch_size, inputs.shape[2] // self.patch_size)

    def compute_output_shape(self, input_shape):
        p = self.patch_size
        rows, cols = input_shape[1], input_shape[2]
        count = None if rows is None or cols is None else (rows // p) * (cols // p)
        return tf.TensorShape([input_shape[0], count, self.hidden_dim])

    def get_config(self):
        return with_fields(
            super().get_config(), self, ("patch_size", "hidden_dim", "stem_channels")
        )
