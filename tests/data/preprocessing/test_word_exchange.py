import collections

import numpy as np

from mmlm.backend import tf
from mmlm.data.preprocessing.word_exchange import WordExchangeNegatives
from mmlm.testing import TestCase

GROUPS = [[10, 11, 12], [20, 21]]


class WordExchangeNegativesTest(TestCase):
    def test_two_different_words_of_one_group_trade_places(self):
        layer = WordExchangeNegatives(GROUPS, seed=3)
        token_ids = tf.constant(
            [
                [1, 10, 5, 20, 11, 21, 2],  # pairs (1, 4) in group 0 and (3, 5) in group 1
                [1, 10, 5, 10, 20, 2, 0],  # the same word twice, one of group 1: no pair
                [1, 10, 11, 12, 2, 0, 0],  # three pairs in group 0
                [1, 5, 6, 7, 2, 0, 0],  # no group word
            ]
        )
        exchanges = collections.Counter()
        for negatives in self.draw_negatives(layer, token_ids, [True, False, True, False]):
            self.assertAllEqual(token_ids[1], negatives[1])
            self.assertAllEqual(token_ids[3], negatives[3])
            for row in (0, 2):
                old = token_ids[row].numpy()
                changed = np.flatnonzero(negatives[row] != old)
                self.assertLen(changed, 2)
                i, j = changed
                self.assertEqual((old[i], old[j]), (negatives[row, j], negatives[row, i]))
                exchanges[(row, int(i), int(j))] += 1
        # Every pair of every group is drawn, about equally.
        self.assertEqual({(0, 1, 4), (0, 3, 5)}, {k for k in exchanges if k[0] == 0})
        self.assertEqual({(2, 1, 2), (2, 1, 3), (2, 2, 3)}, {k for k in exchanges if k[0] == 2})
        self.assertAllClose([150, 150], [exchanges[(0, 1, 4)], exchanges[(0, 3, 5)]], atol=40)
        self.assertGreater(min(n for k, n in exchanges.items() if k[0] == 2), 60)
