"""Fixed 2-D sine-cosine positions of patches on a grid (images, spectrograms)."""

import numpy as np

from mmlm.backend import keras, register, tf
from mmlm.layers.config_fields import with_fields


def sincos_2d_table(rows, cols, hidden_dim, max_wavelength=10000.0):
    """(rows · cols, hidden_dim) float32 table, row-major like `PatchEmbedding`'s patches.

    The first half of the channels encodes the patch's row, the second half its column; each
    half is sin(p · ω) then cos(p · ω) for `hidden_dim / 4` frequencies
    ω_i = max_wavelength^(-i / (hidden_dim / 4)) (the MAE / ViT-sincos layout). So "left of the
    image" is one fixed direction shared by every patch of a column, from the first step of
    training.
    """
    if hidden_dim % 4:
        raise ValueError(f"`hidden_dim` must be divisible by 4 for 2-D sin-cos, got {hidden_dim}.")
    quarter = hidden_dim // 4
    omega = 1.0 / max_wavelength ** (np.arange(quarter, dtype=np.float64) / quarter)

    def encode(positions):  # (N,) → (N, hidden_dim / 2)
        angles = positions[:, None] * omega[None, :]
        return np.concatenate([np.sin(angles), np.cos(angles)], axis=1)

    row, col = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    table = np.concatenate([encode(row.ravel()), encode(col.ravel())], axis=1)
    return table.astype(np.float32)


@register
class SinCosPositionEncoding2D(keras.layers.Layer):
    """Fixed 2-D sine-cosine position encodings of a (rows × cols) patch grid; no weights.

    Args:
        grid_rows: patches along the first axis (image rows, spectrogram time).
        grid_cols: patches along the second axis (image columns, mel bands).
        max_wavelength: longest wavelength of the sinusoids.

    Call arguments:
        inputs: (B, rows · cols, H) patch embeddings (only their shape and dtype are used).

    Returns:
        (B, rows · cols, H) encodings in the inputs' dtype, to be added to them.

    Example:
    >>> SinCosPositionEncoding2D(2, 3)(tf.zeros((4, 6, 8))).shape
    TensorShape([4, 6, 8])
    """

    def __init__(self, grid_rows, grid_cols, max_wavelength=10000.0, **kwargs):
        super().__init__(**kwargs)
        self.grid_rows = grid_rows
        self.grid_cols = grid_cols
        self.max_wavelength = max_wavelength

    def build(self, input_shape):
        count, hidden_dim = input_shape[-2], input_shape[-1]
        if count is not None and count != self.grid_rows * self.grid_cols:
            raise ValueError(
                f"Expected {self.grid_rows} × {self.grid_cols} = "
                f"{self.grid_rows * self.grid_cols} patches, got {count}."
            )
        self.table = sincos_2d_table(
            self.grid_rows, self.grid_cols, hidden_dim, self.max_wavelength
        )
        self.built = True

    def call(self, inputs):
        table = tf.constant(self.table, dtype=inputs.dtype)
        return tf.broadcast_to(table[None], tf.shape(inputs))

    def get_config(self):
        return with_fields(super().get_config(), self, ("grid_rows", "grid_cols", "max_wavelength"))
