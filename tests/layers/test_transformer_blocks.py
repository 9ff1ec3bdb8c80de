"""Tests for the prunable Transformer blocks and the cross-modal fusion block."""

import numpy as np

from mmlm.backend import tf
from mmlm.layers import CrossModalFusionBlock, TransformerDecoderBlock, TransformerEncoderBlock
from mmlm.testing import TestCase


class TransformerBlocksTest(TestCase):
    def test_encoder_block(self):
        block = TransformerEncoderBlock(intermediate_dim=32, num_heads=2, name="enc")
        self.run_layer_test(block, tf.random.normal((2, 5, 16)), expected_output_shape=(2, 5, 16))
        self.assertTrue(block.normalize_first)
        # Prunable: the four attention projections and the two feed-forward kernels.
        self.assertLen(block.get_prunable_weights(), 6)
        self.assertTrue(all("kernel" in w.name for w in block.get_prunable_weights()))

    def test_encoder_block_respects_padding(self):
        block = TransformerEncoderBlock(intermediate_dim=32, num_heads=2)
        x = tf.random.normal((1, 4, 16))
        mask = tf.constant([[True, True, False, False]])
        changed = tf.concat([x[:, :2], tf.random.normal((1, 2, 16))], axis=1)
        self.assertAllClose(
            block(x, padding_mask=mask)[:, :2], block(changed, padding_mask=mask)[:, :2]
        )

    def test_decoder_block_is_causal(self):
        block = TransformerDecoderBlock(intermediate_dim=32, num_heads=2)
        x = tf.random.normal((1, 4, 16))
        context = tf.random.normal((1, 3, 16))
        changed = tf.concat([x[:, :2], tf.random.normal((1, 2, 16))], axis=1)
        self.assertAllClose(block(x, context)[:, :2], block(changed, context)[:, :2], atol=1e-5)
        self.run_serialization_test(block)

    def test_fusion_block_sees_context_and_ignores_masked_context(self):
        block = CrossModalFusionBlock(intermediate_dim=32, num_heads=2, name="fusion")
        query = tf.random.normal((2, 5, 16))
        context = tf.random.normal((2, 3, 16))
        mask = tf.constant([[True, True, False]] * 2)
        out = block(query, context, encoder_padding_mask=mask)
        self.assertEqual(out.shape, (2, 5, 16))
        other = tf.concat([context[:, :2], tf.random.normal((2, 1, 16))], axis=1)
        self.assertAllClose(out, block(query, other, encoder_padding_mask=mask), atol=1e-5)
        different = block(query, tf.random.normal((2, 3, 16)), encoder_padding_mask=mask)
        self.assertGreater(float(tf.reduce_max(tf.abs(out - different))), 1e-3)
        # Not causal: the first query position depends on later ones.
        changed = tf.concat([query[:, :1], tf.random.normal((2, 4, 16))], axis=1)
        first = block(changed, context, encoder_padding_mask=mask)[:, 0]
        self.assertGreater(float(np.max(np.abs(first - out[:, 0]))), 1e-4)
        revived = self.run_serialization_test(block)
        self.assertIsInstance(revived, CrossModalFusionBlock)
