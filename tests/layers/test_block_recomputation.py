"""Tests for `recompute_blocks`: equal values and gradients, a real second forward pass."""

from unittest import mock

import numpy as np

from mmlm.backend import keras, tf
from mmlm.layers import (
    CrossModalFusionBlock,
    TransformerDecoderBlock,
    TransformerEncoderBlock,
    recompute_blocks,
)
from mmlm.testing import TestCase


def _loss_and_gradients(block, call, tensors):
    """Loss of `call(*tensors)` and its gradients for the tensors and the block's weights."""
    with tf.GradientTape() as tape:
        tape.watch(tensors)
        output = call(*tensors)
        loss = tf.reduce_sum(output * tf.cos(tf.range(tf.size(output), dtype=tf.float32))[:1])
        loss = tf.reduce_sum(tf.square(output)) + loss
    gradients = tape.gradient(loss, list(tensors) + block.trainable_variables)
    return loss, gradients


class BlockRecomputationTest(TestCase):
    def _check_equal(self, block, call, tensors):
        """Values and gradients with and without recomputation, eager and in tf.function."""
        call(*tensors)  # builds the block
        plain = _loss_and_gradients(block, call, tensors)
        self.assertEqual(recompute_blocks(block), 1)
        for run in (lambda: _loss_and_gradients(block, call, tensors),
                    tf.function(lambda: _loss_and_gradients(block, call, tensors))):  # fmt: skip
            loss, gradients = run()
            self.assertAllClose(loss, plain[0], rtol=1e-6)
            self.assertLen(gradients, len(plain[1]))
            for got, want in zip(gradients, plain[1]):
                self.assertAllClose(got, want, atol=1e-5, rtol=1e-5)

    def test_encoder_block_with_padding(self):
        block = TransformerEncoderBlock(intermediate_dim=32, num_heads=2)
        mask = tf.constant([[True] * 6, [True] * 3 + [False] * 3])
        x = tf.random.normal((2, 6, 16), seed=1)
        self._check_equal(block, lambda x: block(x, padding_mask=mask, training=True), [x])

    def test_decoder_block_with_cross_attention_and_chunked_attention(self):
        block = TransformerDecoderBlock(
            intermediate_dim=32, num_heads=2, attention_implementation="chunked",
            attention_chunk_size=2,
        )  # fmt: skip
        x, context = tf.random.normal((2, 5, 16), seed=2), tf.random.normal((2, 3, 16), seed=3)
        self._check_equal(block, lambda x, c: block(x, c, training=True), [x, context])

    def test_fusion_block(self):
        block = CrossModalFusionBlock(intermediate_dim=32, num_heads=2)
        mask = tf.constant([[True, True, False]] * 2)
        x, context = tf.random.normal((2, 4, 16), seed=4), tf.random.normal((2, 3, 16), seed=5)
        self._check_equal(
            block, lambda x, c: block(x, c, encoder_padding_mask=mask, training=True), [x, context]
        )

    def test_the_backward_pass_runs_the_block_again(self):
        block = TransformerEncoderBlock(intermediate_dim=32, num_heads=2)
        x = tf.random.normal((2, 4, 16))
        block(x)
        dense = block._feedforward_intermediate_dense
        calls = []
        original = dense.call
        dense.call = lambda *a, **k: calls.append(1) or original(*a, **k)

        def feedforward_calls_per_step():
            calls.clear()
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(block(x, training=True))
            tape.gradient(loss, block.trainable_variables)
            return len(calls)

        self.assertEqual(feedforward_calls_per_step(), 1)
        recompute_blocks(block)
        self.assertEqual(feedforward_calls_per_step(), 2)
        with tf.GradientTape() as tape:  # inference: no recomputation
            calls.clear()
            tape.watch(x)
            tape.gradient(tf.reduce_sum(block(x, training=False)), x)
        self.assertLen(calls, 1)

    def test_a_model_trains_the_same_and_saves_without_the_setting(self):
        def model():
            keras.utils.set_random_seed(7)
            inputs = keras.Input((5, 8))
            x = TransformerEncoderBlock(intermediate_dim=16, num_heads=2, name="block")(inputs)
            return keras.Model(inputs, keras.layers.GlobalAveragePooling1D()(x))

        data = np.random.default_rng(0).normal(size=(16, 5, 8)).astype("float32")
        target = np.random.default_rng(1).normal(size=(16, 8)).astype("float32")
        losses = []
        for recompute in (False, True):
            m = model()
            if recompute:
                self.assertEqual(recompute_blocks(m), 1)
            m.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
            with mock.patch.object(tf, "recompute_grad", wraps=tf.recompute_grad) as spy:
                history = m.fit(data, target, batch_size=8, epochs=3, verbose=0, shuffle=False)
            self.assertEqual(spy.called, recompute)  # fit's training=True reaches the block
            losses.append(history.history["loss"])
        self.assertAllClose(losses[0], losses[1], rtol=1e-5)
        self.assertLess(losses[1][-1], losses[1][0])
        self.assertNotIn("recompute", m.get_layer("block").get_config())

    def test_dropout_is_refused_by_name(self):
        block = TransformerEncoderBlock(intermediate_dim=32, num_heads=2, dropout=0.1, name="b3")
        with self.assertRaisesRegex(ValueError, "'b3'.*dropout is 0.1"):
            recompute_blocks(block)
        self.assertFalse(block.recompute)
