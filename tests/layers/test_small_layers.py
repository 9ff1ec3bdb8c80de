"""Tests for the small layers: patches, learned tokens, masks, pooling, projection, frontend."""

import numpy as np

from mmlm.backend import tf
from mmlm.layers import (
    AllValidMask,
    AudioFrontend,
    MaskedPooling,
    MaskTokens,
    ModalityEmbedding,
    PatchEmbedding,
    PrependToken,
    PresenceMask,
    ProjectionHead,
    SinCosPositionEncoding2D,
)
from mmlm.layers.patch_embedding import patch_mask_from_frames
from mmlm.testing import TestCase


class SinCosPositionEncoding2DTest(TestCase):
    def test_layer(self):
        layer = SinCosPositionEncoding2D(2, 3, name="positions")
        out = self.run_layer_test(layer, tf.zeros((4, 6, 8)), expected_output_shape=(4, 6, 8))
        self.assertEqual(layer.weights, [])
        self.assertAllClose(out[0], out[3])

    def test_values_follow_row_and_column(self):
        # hidden 8: channels 0-3 are the row (sin, sin, cos, cos of r·1, r·0.01), 4-7 the column.
        table = SinCosPositionEncoding2D(3, 4)(tf.zeros((1, 12, 8)))[0].numpy()
        for index in range(12):
            row, col = divmod(index, 4)  # row-major, like PatchEmbedding's patches
            for half, position in ((0, row), (4, col)):
                angles = position * np.array([1.0, 0.01])
                expected = np.concatenate([np.sin(angles), np.cos(angles)])
                self.assertAllClose(table[index, half : half + 4], expected, atol=1e-6)

    def test_dtype_and_errors(self):
        layer = SinCosPositionEncoding2D(2, 2, dtype="mixed_bfloat16")
        out = layer(tf.zeros((1, 4, 8), tf.bfloat16))
        self.assertEqual(out.dtype, tf.bfloat16)
        with self.assertRaisesRegex(ValueError, "2 × 2 = 4 patches, got 5"):
            SinCosPositionEncoding2D(2, 2)(tf.zeros((1, 5, 8)))
        with self.assertRaisesRegex(ValueError, "divisible by 4"):
            SinCosPositionEncoding2D(2, 2)(tf.zeros((1, 4, 6)))


class PatchEmbeddingTest(TestCase):
    def test_images(self):
        layer = PatchEmbedding(8, 16, name="patches")
        self.run_layer_test(
            layer, tf.random.uniform((2, 32, 32, 3)), expected_output_shape=(2, 16, 16)
        )

    def test_patch_order_is_row_major(self):
        layer = PatchEmbedding(2, 1)
        layer.build((1, 4, 4, 1))
        layer.projection.kernel.assign(np.ones((2, 2, 1, 1)))  # each patch → its sum
        image = np.arange(16, dtype="float32").reshape(1, 4, 4, 1)
        sums = layer(image)[0, :, 0].numpy()
        expected = [image[0, r : r + 2, c : c + 2].sum() for r in (0, 2) for c in (0, 2)]
        self.assertAllClose(sums, expected)

    def test_convolutional_stem(self):
        layer = PatchEmbedding(8, 16, stem_channels=(4, 8), name="patches")
        images = tf.random.uniform((2, 32, 32, 3))
        out = self.run_layer_test(layer, images, expected_output_shape=(2, 16, 16))
        kernels = [tuple(w.shape) for w in layer.get_prunable_weights()]
        # Two 3x3 stride-2 convs do a stride of 4; the projection does the remaining 2.
        self.assertCountEqual(kernels, [(3, 3, 3, 4), (3, 3, 4, 8), (2, 2, 8, 16)])
        # Patch 0 (rows and columns 0-7) sees 3 px past its square (receptive field 11 px; TF's
        # "same" padding pads after): column 10 changes it, column 11 does not.
        for column, changes in ((10, True), (11, False)):
            changed = layer(tf.tensor_scatter_nd_add(images, [[0, 2, column, 0]], [5.0]))
            difference = float(tf.reduce_max(tf.abs(changed[0, 0] - out[0, 0])))
            self.assertEqual(difference > 0, changes, (column, difference))
        # Masked patch 1 (columns 8-15) is hidden from patch 0's stem as well.
        hide_patch_1 = np.eye(16, dtype=bool)[[1, 1]]
        changed = tf.tensor_scatter_nd_add(images, [[0, 2, 9, 0]], [5.0])
        masked, masked_changed = (layer(x, patch_mask=hide_patch_1) for x in (images, changed))
        self.assertAllClose(masked_changed[0, 0], masked[0, 0], atol=0, rtol=0)
        self.assertAllClose(masked[:, 2:], out[:, 2:], atol=0, rtol=0)  # beyond: unchanged
        self.assertNotAllClose(masked[0, 0], out[0, 0])
        with self.assertRaisesRegex(ValueError, "patch_size 8 is not divisible by the stem's"):
            PatchEmbedding(8, 16, stem_channels=(4, 4, 4, 4))

    def test_spectrogram_and_mask(self):
        layer = PatchEmbedding(4, 8)
        spectrogram = tf.random.normal((2, 10, 8))  # 10 frames: 2 time patches, 2 drop
        self.assertEqual(layer(spectrogram).shape, (2, 4, 8))
        frames = tf.constant([[True] * 5 + [False] * 5, [True] * 10])
        mask = layer.compute_mask(spectrogram, frames).numpy()
        # time-major: [t0m0, t0m1, t1m0, t1m1]; frames 4..7 hold one valid frame for row 0.
        self.assertAllEqual(mask, [[True, True, True, True], [True, True, True, True]])
        mask = patch_mask_from_frames(tf.constant([[True] * 4 + [False] * 6]), 4, 2).numpy()
        self.assertAllEqual(mask, [[True, True, False, False]])


class LearnedTokensTest(TestCase):
    def test_prepend_token(self):
        layer = PrependToken(8, name="cls")
        out, mask = layer(tf.zeros((2, 3, 8)), tf.constant([[True, False, False]] * 2))
        self.assertEqual(out.shape, (2, 4, 8))
        self.assertAllEqual(mask[:, 0], [True, True])
        self.assertAllClose(out[0, 0], layer.vector)
        self.run_serialization_test(layer)
        # An empty sequence (a modality left out of the fusion) becomes the token alone.
        out, mask = layer(tf.zeros((2, 0, 8)), tf.zeros((2, 0), tf.bool))
        self.assertEqual(out.shape, (2, 1, 8))
        self.assertAllEqual(mask, [[True], [True]])

    def test_mask_tokens(self):
        layer = MaskTokens(4)
        x = tf.ones((1, 3, 4))
        out = layer(x, tf.constant([[False, True, False]]))
        self.assertAllClose(out[0, 1], layer.vector)
        self.assertAllClose(out[0, 0], np.ones(4))
        self.run_serialization_test(layer)

    def test_modality_embedding(self):
        layer = ModalityEmbedding(4)
        out = self.run_layer_test(layer, tf.zeros((2, 3, 4)))
        self.assertAllClose(out[1, 2], layer.vector)


class MaskAndPoolingTest(TestCase):
    def test_masks(self):
        self.assertAllEqual(AllValidMask()(tf.zeros((2, 3, 1))), np.ones((2, 3), bool))
        mask = PresenceMask()(tf.constant([[True, False]] * 2), tf.constant([True, False]))
        self.assertAllEqual(mask, [[True, False], [False, False]])

    def test_mean_pooling_matches_numpy(self):
        x = np.random.default_rng(0).normal(size=(2, 4, 3)).astype("float32")
        mask = np.array([[1, 1, 0, 0], [0, 0, 0, 0]], bool)
        out = MaskedPooling("mean")(x, mask).numpy()
        self.assertAllClose(out[0], x[0, :2].mean(0))
        self.assertAllClose(out[1], np.zeros(3))  # nothing valid → zeros, not NaN
        self.assertAllClose(MaskedPooling("class_token")(x).numpy(), x[:, 0])
        with self.assertRaisesRegex(ValueError, "mode"):
            MaskedPooling("max")

    def test_projection_head_unit_norm(self):
        head = ProjectionHead(6, name="proj")
        out = self.run_layer_test(head, tf.random.normal((3, 5)), expected_output_shape=(3, 6))
        self.assertAllClose(np.linalg.norm(out, axis=-1), np.ones(3), atol=1e-5)
        self.assertEqual(out.dtype, tf.float32)


class AudioFrontendTest(TestCase):
    def test_shapes_masks_and_standardization(self):
        frontend = AudioFrontend({"sample_rate": 16000}, patch_size=16, name="frontend")
        audio = tf.random.uniform((2, 16000), -0.5, 0.5)
        mask = tf.sequence_mask([16000, 4000], 16000)
        out = frontend(audio, mask)
        self.assertEqual(out["spectrogram"].shape, (2, 101, 80))
        self.assertEqual(frontend.num_patches(16000), out["patch_mask"].shape[1])
        self.assertAllClose(out["spectrogram"], (out["log_mel"] + 20.0) / 20.0)
        valid = out["patch_mask"].numpy().sum(axis=1)
        self.assertEqual(valid[0], 30)
        self.assertLess(valid[1], 30)
        self.run_serialization_test(frontend)
