"""Tests for the captioning (causal LM) losses against NumPy."""

import numpy as np

from mmlm.backend import tf
from mmlm.objectives import causal_lm_loss, shift_for_causal_lm, token_cross_entropy
from mmlm.testing import TestCase
from mmlm.testing.references import numpy_token_cross_entropy, random_token_logits


def random_captions(seed, batch=4, length=7, vocabulary=13):
    logits, labels = random_token_logits(seed, (batch, length), vocabulary, scale=2.0)
    lengths = np.array([7, 3, 0, 5])[:batch]  # Row 2 is absent (no caption).
    weights = (np.arange(length)[None, :] < lengths[:, None]).astype(np.float32)
    return logits, labels, weights


class CaptioningTest(TestCase):
    def test_causal_lm_loss(self):
        self.run_token_loss_test(causal_lm_loss, *random_captions(0))

    def test_token_cross_entropy_accumulates_to_perplexity(self):
        batches = [random_captions(seed) for seed in (1, 2)]
        total, count = 0.0, 0.0
        for logits, labels, weights in batches:
            batch_total, batch_count = token_cross_entropy(logits, labels, weights)
            self.assertEqual(batch_total.dtype, tf.float32)
            self.assertEqual(batch_count.dtype, tf.float32)
            total, count = total + float(batch_total), count + float(batch_count)
        per_token = np.concatenate([numpy_token_cross_entropy(x, y)[w > 0] for x, y, w in batches])
        self.assertEqual(per_token.size, count)
        self.assertAllClose(np.exp(per_token.mean()), np.exp(total / count), rtol=1e-5)

    def test_no_tokens_count_nothing(self):
        logits, labels, weights = random_captions(3)
        self.assertAllEqual((0.0, 0.0), token_cross_entropy(logits, labels, 0 * weights))

    def test_shift_for_causal_lm(self):
        token_ids = np.array([[1, 5, 6, 2, 0], [1, 7, 2, 0, 0]], np.int32)
        padding_mask = token_ids != 0
        decoder_inputs, labels, weights = shift_for_causal_lm(token_ids, padding_mask)
        self.assertAllEqual([[1, 5, 6, 2], [1, 7, 2, 0]], decoder_inputs)
        self.assertAllEqual([[5, 6, 2, 0], [7, 2, 0, 0]], labels)
        self.assertEqual(weights.dtype, tf.float32)
        self.assertAllEqual([[1, 1, 1, 0], [1, 1, 0, 0]], weights)
