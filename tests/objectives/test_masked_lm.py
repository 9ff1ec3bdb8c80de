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
    def test_loss(self):
        logits, ids, weights = random_batch(0)
        self.run_token_loss_test(masked_lm_loss, logits, ids, weights)
        expected = np.sum(numpy_token_cross_entropy(logits, ids) * weights) / weights.sum()
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

    def test_accuracy_of_nothing_selected_and_of_bfloat16(self):
        logits, ids, weights = random_batch(2)
        self.assertEqual(float(masked_lm_accuracy(logits, ids, 0 * weights)), 0.0)
        logits16 = tf.cast(logits, tf.bfloat16)
        self.assertEqual(masked_lm_accuracy(logits16, ids, weights).dtype, tf.float32)
