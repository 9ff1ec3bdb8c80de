"""Tests for the masked LM loss and accuracy against NumPy."""

import numpy as np

from mmlm.backend import tf
from mmlm.objectives import masked_lm_accuracy, masked_lm_loss
from mmlm.testing import TestCase
from mmlm.testing.references import numpy_token_cross_entropy, random_token_logits


def random_batch(seed, batch=3, positions=5, vocabulary=11):
    logits, ids = random_token_logits(seed, (batch, positions), vocabulary, scale=3.0)
    weights = np.ones((batch, positions), np.float32)
    weights[0, 3:] = 0.0
    weights[2, :] = 0.0  # A row with no mask position at all.
    return logits, ids, weights


class MaskedLMTest(TestCase):
    def test_loss_matches_numpy(self):
        logits, ids, weights = random_batch(0)
        expected = np.sum(numpy_token_cross_entropy(logits, ids) * weights) / weights.sum()
        loss = masked_lm_loss(logits, ids, weights)
        self.assertEqual(loss.dtype, tf.float32)
        self.assertEqual(loss.shape, ())
        self.assertAllClose(expected, loss, atol=1e-5)
        self.assertAllClose(expected, masked_lm_loss(logits, ids, weights > 0), atol=1e-5)
        # Whatever sits at unweighted positions (here out-of-range ids) changes nothing.
        self.assertAllClose(
            expected, masked_lm_loss(logits, np.where(weights > 0, ids, -1), weights)
        )

    def test_accuracy_matches_numpy(self):
        logits, ids, weights = random_batch(1)
        ids[1, :2] = logits[1, :2].argmax(-1)  # Guarantee some hits.
        hits = logits.argmax(-1) == ids
        expected = np.sum(hits * weights) / weights.sum()
        self.assertGreater(expected, 0.0)
        accuracy = masked_lm_accuracy(logits, ids, weights)
        self.assertEqual(accuracy.dtype, tf.float32)
        self.assertAllClose(expected, accuracy)

    def test_nothing_selected_is_zero_with_finite_gradients(self):
        logits, ids, _ = random_batch(2)
        logits = tf.constant(logits)
        weights = np.zeros(ids.shape, np.float32)
        with tf.GradientTape() as tape:
            tape.watch(logits)
            loss = masked_lm_loss(logits, ids, weights)
        self.assertEqual(float(loss), 0.0)
        self.assertAllEqual(np.zeros(logits.shape), tape.gradient(loss, logits))
        self.assertEqual(float(masked_lm_accuracy(logits, ids, weights)), 0.0)

    def test_bfloat16_logits(self):
        logits, ids, weights = random_batch(3)
        logits16 = tf.cast(logits, tf.bfloat16)
        rounded = tf.cast(logits16, tf.float32).numpy()
        expected = np.sum(numpy_token_cross_entropy(rounded, ids) * weights) / weights.sum()
        with tf.GradientTape() as tape:
            tape.watch(logits16)
            loss = masked_lm_loss(logits16, ids, weights)
        self.assertEqual(loss.dtype, tf.float32)
        self.assertAllClose(expected, loss, atol=1e-5)
        gradient = tf.cast(tape.gradient(loss, logits16), tf.float32).numpy()
        self.assertTrue(np.isfinite(gradient).all())
        self.assertEqual(masked_lm_accuracy(logits16, ids, weights).dtype, tf.float32)
