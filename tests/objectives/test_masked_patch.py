"""Tests for patchify (against NumPy slicing and a Conv2D patch embedding) and the MAE loss."""

import numpy as np

from mmlm.backend import keras, tf
from mmlm.objectives import (
    masked_patch_loss,
    patch_validity,
    patchify_images,
    patchify_spectrogram,
)
from mmlm.testing import TestCase


def numpy_patchify(images, p):
    """(B, H, W, C) -> (B, N, p * p * C) by slicing patch n = r * (W // p) + c."""
    batch, height, width, _ = images.shape
    cols = width // p
    patches = []
    for n in range((height // p) * cols):
        r, c = divmod(n, cols)
        patches.append(images[:, r * p : (r + 1) * p, c * p : (c + 1) * p, :].reshape(batch, -1))
    return np.stack(patches, axis=1)


def numpy_masked_patch_loss(predictions, targets, scored, normalize):
    predictions, targets = predictions.astype(np.float64), targets.astype(np.float64)
    if normalize:
        mean = targets.mean(axis=-1, keepdims=True)
        variance = ((targets - mean) ** 2).mean(axis=-1, keepdims=True)
        targets = (targets - mean) / np.sqrt(variance + 1e-6)
    per_patch = ((predictions - targets) ** 2).mean(axis=-1)
    return per_patch[scored].mean() if scored.any() else 0.0


def identity_patch_embedding(patch_size, channels):
    """A Conv2D patch embedding whose output channel k copies patch value k."""
    size = patch_size * patch_size * channels
    kernel = np.eye(size, dtype=np.float32).reshape(patch_size, patch_size, channels, size)
    return keras.layers.Conv2D(
        size,
        patch_size,
        strides=patch_size,
        use_bias=False,
        kernel_initializer=keras.initializers.Constant(kernel),
    )


class PatchifyTest(TestCase):
    def test_images_match_numpy_slicing_and_conv2d(self):
        images = np.random.default_rng(0).standard_normal((2, 8, 12, 3)).astype(np.float32)
        patches = patchify_images(images, 4)
        self.assertEqual((2, 6, 48), tuple(patches.shape))
        self.assertAllEqual(numpy_patchify(images, 4), patches)
        embedded = identity_patch_embedding(4, 3)(images)  # (B, H / p, W / p, p * p * C)
        self.assertAllClose(tf.reshape(embedded, (2, 6, 48)), patches, atol=1e-6)

    def test_images_dynamic_shape_and_invalid_size(self):
        images = np.random.default_rng(1).standard_normal((2, 6, 4, 1)).astype(np.float32)
        patchify = tf.function(
            lambda x: patchify_images(x, 2), input_signature=[tf.TensorSpec([None, None, None, 1])]
        )
        self.assertAllEqual(numpy_patchify(images, 2), patchify(images))
        with self.assertRaisesRegex(ValueError, "width 4 is not a multiple of patch_size 3"):
            patchify_images(np.zeros((1, 6, 4, 1), np.float32), 3)

    def test_spectrogram_matches_numpy_slicing_and_conv2d(self):
        spectrogram = np.random.default_rng(2).standard_normal((2, 19, 10)).astype(np.float32)
        patches = patchify_spectrogram(spectrogram, 4)  # 4 time patches x 2 mel patches
        self.assertEqual((2, 8, 16), tuple(patches.shape))
        for n in range(8):
            t, m = divmod(n, 2)
            expected = spectrogram[:, t * 4 : (t + 1) * 4, m * 4 : (m + 1) * 4].reshape(2, 16)
            self.assertAllEqual(expected, patches[:, n])
        embedded = identity_patch_embedding(4, 1)(spectrogram[..., None])  # VALID: crops.
        self.assertAllClose(tf.reshape(embedded, (2, 8, 16)), patches, atol=1e-6)
        dynamic = tf.function(
            lambda s: patchify_spectrogram(s, 4), input_signature=[tf.TensorSpec([None] * 3)]
        )
        self.assertAllEqual(patches, dynamic(spectrogram))

    def test_patch_validity_matches_numpy(self):
        lengths = np.array([19, 12, 5, 0])
        frame_mask = np.arange(19)[None, :] < lengths[:, None]  # (4, 19)
        valid = patch_validity(frame_mask, 4, 2)
        self.assertEqual(valid.dtype, tf.bool)
        expected = np.zeros((4, 8), bool)
        for n in range(8):
            t = n // 2
            expected[:, n] = frame_mask[:, t * 4 : (t + 1) * 4].all(axis=1)
        self.assertAllEqual(expected, valid)
        self.assertAllEqual([8, 6, 2, 0], np.sum(expected, axis=1))  # 19 frames: 4 full patches.
        dynamic = tf.function(
            lambda m: patch_validity(m, 4, 2),
            input_signature=[tf.TensorSpec([None, None], tf.bool)],
        )
        self.assertAllEqual(expected, dynamic(frame_mask))


class MaskedPatchLossTest(TestCase):
    def setUp(self):
        super().setUp()
        rng = np.random.default_rng(3)
        self.predictions = rng.standard_normal((3, 6, 8)).astype(np.float32)
        self.targets = (2.0 + 3.0 * rng.standard_normal((3, 6, 8))).astype(np.float32)
        self.targets[0, 1] = 5.0  # A constant patch (padded silence): zero variance.
        self.patch_mask = rng.random((3, 6)) < 0.6
        self.patch_mask[0, 1] = True
        self.patch_mask[2] = False  # A row with nothing masked.
        self.patch_valid = np.ones((3, 6), bool)
        self.patch_valid[1, 4:] = False

    def test_matches_numpy(self):
        for normalize in (True, False):
            for valid in (None, self.patch_valid):
                with self.subTest(normalize=normalize, valid=valid is not None):
                    scored = self.patch_mask if valid is None else self.patch_mask & valid
                    expected = numpy_masked_patch_loss(
                        self.predictions, self.targets, scored, normalize
                    )
                    loss = masked_patch_loss(
                        self.predictions, self.targets, self.patch_mask, valid, normalize
                    )
                    self.assertEqual(loss.dtype, tf.float32)
                    self.assertEqual(loss.shape, ())
                    self.assertAllClose(expected, loss, rtol=1e-5)

    def test_rows_without_scored_patches_contribute_nothing(self):
        args = (self.predictions, self.targets, self.patch_mask, self.patch_valid)
        self.assertAllClose(
            masked_patch_loss(*args), masked_patch_loss(*(a[:2] for a in args)), rtol=1e-6
        )

    def test_nothing_scored_is_zero_with_finite_gradients(self):
        predictions = tf.constant(self.predictions)
        with tf.GradientTape() as tape:
            tape.watch(predictions)
            loss = masked_patch_loss(
                predictions, self.targets, self.patch_mask, self.patch_mask & False
            )
        self.assertEqual(float(loss), 0.0)
        self.assertAllEqual(np.zeros(predictions.shape), tape.gradient(loss, predictions))

    def test_bfloat16_inputs_and_gradients(self):
        predictions16 = tf.cast(self.predictions, tf.bfloat16)
        targets16 = tf.cast(self.targets, tf.bfloat16)
        with tf.GradientTape() as tape:
            tape.watch(predictions16)
            loss = masked_patch_loss(predictions16, targets16, self.patch_mask)
        self.assertEqual(loss.dtype, tf.float32)
        expected = numpy_masked_patch_loss(
            tf.cast(predictions16, tf.float32).numpy(),
            tf.cast(targets16, tf.float32).numpy(),
            self.patch_mask,
            True,
        )
        self.assertAllClose(expected, loss, rtol=1e-5)
        gradient = tf.cast(tape.gradient(loss, predictions16), tf.float32).numpy()
        self.assertTrue(np.isfinite(gradient).all())
        self.assertGreater(np.abs(gradient).max(), 0.0)
