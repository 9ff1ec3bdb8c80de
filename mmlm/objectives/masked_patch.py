"""Masked patch reconstruction (MAE) for images and spectrograms.

Patch order is the order of a `Conv2D(kernel_size=p, strides=p)` patch embedding reshaped to
(B, N, hidden): patch n = patch_row * (W / p) + patch_col, and a patch's values flattened in
(row, col, channel) order, the order of the Conv2D kernel reshaped to (p * p * C, hidden). So the
reconstruction target of token n is the patch that token n was embedded from.
"""

from mmlm.backend import tf
from mmlm.objectives.reduction import global_batch_mean


def _dims(tensor):
    """Each dimension as a Python int where known statically, else as a scalar tensor."""
    dynamic = tf.shape(tensor)
    return [d if d is not None else dynamic[i] for i, d in enumerate(tensor.shape.as_list())]


def patchify_images(images, patch_size):
    """Splits images into flattened non-overlapping patches.

    Args:
        images: (B, H, W, C), H and W multiples of `patch_size`.
        patch_size: Python int p.

    Returns:
        (B, (H / p) * (W / p), p * p * C), patches row-major, values in (row, col, channel) order.
    """
    images = tf.convert_to_tensor(images)
    batch, height, width, channels = _dims(images)
    for name, size in (("height", height), ("width", width)):
        if isinstance(size, int) and size % patch_size:
            raise ValueError(f"Image {name} {size} is not a multiple of patch_size {patch_size}.")
    rows, cols = height // patch_size, width // patch_size
    patches = tf.reshape(images, [batch, rows, patch_size, cols, patch_size, channels])
    patches = tf.transpose(patches, [0, 1, 3, 2, 4, 5])  # (B, rows, cols, p, p, C)
    return tf.reshape(patches, [batch, rows * cols, patch_size * patch_size * channels])


def patchify_spectrogram(spectrogram, patch_size):
    """Splits a (B, T, M) spectrogram into time-major flattened patches.

    Trailing frames (and mel bins) that do not fill a patch are dropped, as a VALID
    `Conv2D(kernel_size=p, strides=p)` on the (B, T, M, 1) view drops them.

    Args:
        spectrogram: (B, T, M).
        patch_size: int p.

    Returns:
        (B, (T // p) * (M // p), p * p); patch n = time_patch * (M // p) + mel_patch.
    """
    spectrogram = tf.convert_to_tensor(spectrogram)
    _, frames, mels = _dims(spectrogram)
    cropped = spectrogram[:, : frames // patch_size * patch_size, : mels // patch_size * patch_size]
    return patchify_images(cropped[..., None], patch_size)


def patch_validity(frame_mask, patch_size, num_mel_patches):
    """Spectrogram patches whose frames are all real (not padding).

    Args:
        frame_mask: (B, T) bool, True on real frames.
        patch_size: int p.
        num_mel_patches: int M // p, patches along the mel axis.

    Returns:
        (B, (T // p) * num_mel_patches) bool, in `patchify_spectrogram` order.
    """
    frame_mask = tf.convert_to_tensor(frame_mask)
    batch, frames = _dims(frame_mask)
    time_patches = frames // patch_size
    frame_mask = tf.cast(frame_mask[:, : time_patches * patch_size], tf.bool)
    valid = tf.reduce_all(tf.reshape(frame_mask, [batch, time_patches, patch_size]), axis=-1)
    valid = tf.broadcast_to(valid[:, :, None], [batch, time_patches, num_mel_patches])
    return tf.reshape(valid, [batch, time_patches * num_mel_patches])


def masked_patch_loss(predictions, targets, patch_mask, patch_valid=None, normalize_targets=True):
    """Mean squared reconstruction error over the masked (and valid) patches.

    Args:
        predictions: (B, N, P) predicted patch values, any float dtype.
        targets: (B, N, P) patch values, e.g. from `patchify_images`.
        patch_mask: (B, N) bool, patches hidden from the encoder: the only ones scored.
        patch_valid: optional (B, N) bool, patches that hold real content (not padding).
        normalize_targets: normalize each target patch by its own mean and variance over P
            (MAE's norm_pix_loss): (t - mean) / sqrt(var + 1e-6), with the population variance.

    Returns:
        float32 scalar: the mean over scored patches of the per-patch mean squared error, or 0
        when no patch is scored.
    """
    predictions = tf.cast(predictions, tf.float32)  # (B, N, P)
    targets = tf.cast(targets, tf.float32)  # (B, N, P)
    if normalize_targets:
        mean, variance = tf.nn.moments(targets, axes=[-1], keepdims=True)  # (B, N, 1)
        targets = (targets - mean) * tf.math.rsqrt(variance + 1e-6)
    per_patch = tf.reduce_mean(tf.square(predictions - targets), axis=-1)  # (B, N)
    scored = tf.cast(patch_mask, tf.bool)
    if patch_valid is not None:
        scored = tf.logical_and(scored, tf.cast(patch_valid, tf.bool))
    weights = tf.cast(scored, tf.float32)
    return global_batch_mean(tf.reduce_sum(per_patch * weights), tf.reduce_sum(weights))
