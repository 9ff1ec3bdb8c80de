import numpy as np

from mmlm.backend import keras, tf
from mmlm.data.preprocessing.masked_lm_mask_generator import MaskedLMMaskGenerator
from mmlm.data.preprocessing.patch_mask_generator import PatchMaskGenerator
from mmlm.testing import TestCase


def _mlm(seed):
    return MaskedLMMaskGenerator(
        vocabulary_size=50,
        mask_selection_rate=0.3,
        mask_token_id=4,
        mask_selection_length=5,
        unselectable_token_ids=[0, 2, 3],
        seed=seed,
    )


def _masks_of_fresh_run(layer_fn, inputs):
    """Masks from a dataset map in a fresh global-seed state (as two runs of a job would be)."""
    keras.utils.set_random_seed(7)
    layer = layer_fn()
    dataset = tf.data.Dataset.from_tensors(inputs).repeat(3).map(layer)
    return [tf.nest.map_structure(np.asarray, x) for x in dataset]


class PatchMaskGeneratorTest(TestCase):
    def test_exact_share_masked_and_varies_per_example(self):
        layer = PatchMaskGenerator(num_patches=64, mask_ratio=0.75, seed=1)
        mask = layer(tf.zeros((8, 3))).numpy()
        self.assertEqual(mask.shape, (8, 64))
        self.assertTrue((mask.sum(axis=1) == 48).all())
        self.assertGreater(len({row.tobytes() for row in mask}), 1)
        self.run_serialization_test(layer)

    def test_seeded_runs_repeat(self):
        inputs = tf.zeros((4, 2))
        make = lambda: PatchMaskGenerator(num_patches=16, mask_ratio=0.5, seed=5)  # noqa: E731
        first, second = _masks_of_fresh_run(make, inputs), _masks_of_fresh_run(make, inputs)
        self.assertAllEqual(np.stack(first), np.stack(second))
        self.assertFalse((first[0] == first[1]).all())  # a new mask every batch

    def test_rejects_bad_ratio(self):
        with self.assertRaisesRegex(ValueError, "mask_ratio"):
            PatchMaskGenerator(num_patches=4, mask_ratio=1.0)


class MaskedLMMaskGeneratorTest(TestCase):
    def test_masks_only_selectable_tokens_and_repeats_with_seed(self):
        ids = tf.constant([[2, 10, 11, 12, 13, 14, 15, 3, 0, 0]] * 3, tf.int32)
        first = _masks_of_fresh_run(lambda: _mlm(9), ids)
        second = _masks_of_fresh_run(lambda: _mlm(9), ids)
        for a, b in zip(first, second):
            for key in a:
                self.assertAllEqual(a[key], b[key])
        out = first[0]
        positions = out["mask_positions"][out["mask_weights"] > 0]
        self.assertTrue(set(positions.tolist()) <= set(range(1, 7)))  # never START/END/PAD
        self.assertTrue((out["mask_weights"].sum(axis=1) == 2).all())  # ceil(0.3 * 6) per row
        self.assertAllEqual(out["mask_ids"][out["mask_weights"] > 0], ids.numpy()[0][positions])
        self.assertEqual(_mlm(9).get_config()["seed"], 9)
        self.run_serialization_test(_mlm(9))
