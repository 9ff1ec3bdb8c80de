"""`FiniteMaskSoftmax`: Keras' masked softmax without -1e9, and the blocks that use it."""

import numpy as np

from mmlm.backend import keras, tf
from mmlm.layers import CrossModalFusionBlock, TransformerEncoderBlock
from mmlm.layers.finite_masks import MASK_MARGIN, FiniteMaskSoftmax
from mmlm.testing import TestCase


def _softmax_over(scores, keep):
    e = np.where(keep, np.exp(scores - scores[keep].max()), 0.0)
    return e / e.sum()


class FiniteMaskSoftmaxTest(TestCase):
    def test_matches_the_softmax_over_kept_positions(self):
        # The masked score is far above the kept ones: a fixed bias of -MASK_MARGIN would let
        # it take nearly all the weight.
        scores = np.array([[-20.0, -25.0, 40.0, 3.0]], np.float32)
        keep = np.array([[True, True, False, True]])
        probabilities = FiniteMaskSoftmax()(scores, mask=keep).numpy()
        self.assertAllClose(_softmax_over(scores[0], keep[0]), probabilities[0], atol=1e-7)
        self.assertLess(probabilities[0, 2], np.exp(-MASK_MARGIN))
        # The same as Keras' -1e9 where that is exact, and uniform for an all-masked row.
        self.assertAllClose(keras.layers.Softmax()(scores, mask=keep), probabilities, atol=1e-7)
        nothing = np.zeros_like(keep)
        self.assertAllClose(FiniteMaskSoftmax()(scores, mask=nothing), np.full((1, 4), 0.25))

    def test_axes_and_serialization(self):
        layer = FiniteMaskSoftmax(axis=[-2, -1], name="softmax")
        self.run_serialization_test(layer)
        scores = tf.random.normal((2, 3, 4))
        keep = tf.random.uniform((2, 3, 4)) > 0.3
        expected = keras.layers.Softmax(axis=[-2, -1])(scores, mask=keep)
        self.assertAllClose(expected, layer(scores, mask=keep), atol=1e-6)

    def test_blocks_attend_with_it(self):
        encoder = TransformerEncoderBlock(intermediate_dim=32, num_heads=2)
        encoder(tf.zeros((1, 3, 16)))
        fusion = CrossModalFusionBlock(intermediate_dim=32, num_heads=2)
        fusion(tf.zeros((1, 3, 16)), tf.zeros((1, 2, 16)))
        for attention in (
            encoder._self_attention_layer,
            fusion._self_attention_layer,
            fusion._cross_attention_layer,
        ):
            self.assertIsInstance(attention._softmax, FiniteMaskSoftmax)
