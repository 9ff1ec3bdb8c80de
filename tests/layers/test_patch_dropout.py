"""FLIP-style patch dropout: shapes, which tokens survive, and evaluation untouched."""

import numpy as np

from mmlm.backend import tf
from mmlm.layers import PatchDropout
from mmlm.testing import TestCase


class PatchDropoutTest(TestCase):
    def test_keeps_a_share_of_each_rows_valid_patches(self):
        tokens = tf.reshape(tf.range(2 * 10 * 3, dtype=tf.float32), (2, 10, 3))
        valid = tf.constant([[True] * 10, [True] * 6 + [False] * 4])
        out, mask = PatchDropout(0.5)(tokens, valid, training=True)
        self.assertEqual(out.shape, (2, 5, 3))
        self.assertAllEqual(tf.reduce_sum(tf.cast(mask, tf.int32), axis=1), [5, 3])
        for row in range(2):
            # Every kept token is an input token of its row, each at most once, and the
            # tokens marked valid were valid patches.
            positions = (out[row, :, 0].numpy() - row * 30) / 3
            self.assertEqual(len(set(positions)), 5)
            self.assertTrue(np.all(valid.numpy()[row, positions.astype(int)][mask[row].numpy()]))

    def test_eval_and_rate_zero_return_the_inputs(self):
        tokens, valid = tf.random.normal((2, 8, 4)), tf.ones((2, 8), bool)
        for layer, training in ((PatchDropout(0.75), False), (PatchDropout(0.75), None)):
            out, mask = layer(tokens, valid, training=training)
            self.assertIs(out, tokens)
        out, _ = PatchDropout(0.0)(tokens, valid, training=True)
        self.assertIs(out, tokens)

    def test_random_per_call_config_and_bad_rate(self):
        tokens, valid = tf.random.normal((4, 16, 2)), tf.ones((4, 16), bool)
        layer = PatchDropout(0.75, name="drop")
        first, _ = layer(tokens, valid, training=True)
        second, _ = layer(tokens, valid, training=True)
        self.assertNotAllClose(first, second)
        revived = self.run_serialization_test(layer)
        self.assertEqual(revived.rate, 0.75)
        with self.assertRaisesRegex(ValueError, r"rate must be in \[0, 1\), got 1.0"):
            PatchDropout(1.0)
