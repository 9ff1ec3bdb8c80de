import collections

import numpy as np

from mmlm.backend import tf
from mmlm.config import ConfigError
from mmlm.data import factory
from mmlm.data.preprocessing.text_preprocessor import TextPreprocessor
from mmlm.data.preprocessing.vocabulary import RESERVED_TOKENS
from mmlm.data.preprocessing.word_swap import WordSwapNegatives
from mmlm.testing import TestCase

GROUPS = [[10, 11, 12], [20, 21]]
GROUP_OF = {token: g for g, group in enumerate(GROUPS) for token in group}


class WordSwapNegativesTest(TestCase):
    def test_one_word_swapped_within_its_group(self):
        layer = WordSwapNegatives(GROUPS, seed=3)
        token_ids = tf.constant(
            [[1, 10, 5, 20, 2, 0], [1, 5, 6, 7, 2, 0], [1, 12, 12, 21, 2, 0], [1, 11, 2, 0, 0, 0]]
        )
        swaps = collections.Counter()
        for negatives in self.draw_negatives(layer, token_ids, [True, False, True, True]):
            self.assertAllEqual(token_ids[1], negatives[1])  # nothing to swap: unchanged
            for row in (0, 2, 3):
                changed = np.flatnonzero(negatives[row] != token_ids[row].numpy())
                self.assertLen(changed, 1)
                old, new = int(token_ids[row, changed[0]]), int(negatives[row, changed[0]])
                self.assertEqual(GROUP_OF[old], GROUP_OF[new])
                swaps[(row, int(changed[0]), old, new)] += 1
        # Every swappable position and every other member of its group is drawn, about equally.
        row0 = {key: n for key, n in swaps.items() if key[0] == 0}
        self.assertEqual(
            {(0, 1, 10, 11), (0, 1, 10, 12), (0, 3, 20, 21)}, set(row0)
        )  # position 1 has two replacements, position 3 one
        self.assertAllClose([75, 75, 150], [row0[k] for k in sorted(row0)], atol=40)
        row3 = {key[3]: n for key, n in swaps.items() if key[0] == 3}
        self.assertEqual({10, 12}, set(row3))
        self.assertGreater(min(row3.values()), 100)

    def test_groups_from_words(self):
        vocabulary = list(RESERVED_TOKENS) + ["a", "red", "circle", "square", "tri", "##angle"]
        text = TextPreprocessor(vocabulary, sequence_length=8)
        ids = factory.swap_groups(("circle square",), text)
        self.assertEqual([[vocabulary.index("circle"), vocabulary.index("square")]], ids)
        with self.assertRaisesRegex(ConfigError, r"'triangle' is not one token.*'tri', '##angle'"):
            factory.swap_groups(("circle triangle",), text)
