"""What every `WordGroupLayer` shares: checked groups, serialization, use in `tf.data.map`."""

from mmlm.backend import tf
from mmlm.data.preprocessing.word_exchange import WordExchangeNegatives
from mmlm.data.preprocessing.word_swap import WordSwapNegatives
from mmlm.testing import TestCase

GROUPS = [[10, 11, 12], [20, 21]]
# Each layer with a row whose negative is certain: one swappable word (of a two-word group),
# or two different words of one group to exchange.
CASES = (
    (WordSwapNegatives, [1, 20, 2], [1, 21, 2]),
    (WordExchangeNegatives, [1, 20, 4, 21, 2], [1, 21, 4, 20, 2]),
)


class WordGroupLayerTest(TestCase):
    def test_serialization_and_dataset_map(self):
        for layer_class, row, expected in CASES:
            with self.subTest(layer_class.__name__):
                layer = layer_class(GROUPS, seed=1, name="negatives")
                self.run_serialization_test(layer)
                dataset = tf.data.Dataset.from_tensors(tf.constant([row], tf.int64))
                negatives, valid = next(iter(dataset.map(layer)))
                self.assertEqual(tf.int64, negatives.dtype)
                self.assertAllEqual([expected], negatives)
                self.assertAllEqual([True], valid)

    def test_bad_groups_name_the_layer_and_the_group(self):
        for layer_class, _, _ in CASES:
            name = layer_class.__name__
            with self.assertRaisesRegex(ValueError, f"{name} needs at least one group"):
                layer_class([])
            with self.assertRaisesRegex(ValueError, rf"{name}: .*2 distinct.*\[4, 4\]"):
                layer_class([[4, 4]])
            with self.assertRaisesRegex(ValueError, f"{name}: .*more than one group"):
                layer_class([[4, 5], [5, 6]])
