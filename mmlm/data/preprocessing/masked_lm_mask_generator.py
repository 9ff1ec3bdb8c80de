"""keras-nlp's masked-LM masking with a seed for the token selection."""

import tensorflow as tf
import tensorflow_text as tf_text

from mmlm.backend import keras_nlp, register
from mmlm.layers.config_fields import with_fields


class _SeededItemSelector(tf_text.RandomItemSelector):
    """`RandomItemSelector` drawing one batched, seeded noise tensor instead of shuffling rows.

    tf_text shuffles each row inside a `map_fn` whose parallel iterations consume a shared
    stateful random op in no fixed order, so even a seeded shuffle permutes the masks between
    rows from run to run. Ranking one batched uniform draw selects the same positions with the
    same distribution (uniform without replacement, `ceil(rate * selectable)` capped per row).
    """

    def __init__(self, seed, **kwargs):
        super().__init__(**kwargs)
        self._seed = seed

    def get_selection_mask(self, input_ids, axis):
        if axis != 1 or input_ids.ragged_rank != 1:
            raise ValueError("token ids must be a (batch, None) ragged tensor selected on axis 1")
        selectable = self.get_selectable(input_ids, axis)  # ragged bool (B, None)
        noise = tf.random.uniform(tf.shape(selectable.flat_values), seed=self._seed)
        noise = selectable.with_flat_values(tf.where(selectable.flat_values, noise, -1.0))
        noise = noise.to_tensor(default_value=-1.0)  # (B, L); -1 = not selectable
        count = tf.reduce_sum(tf.cast(noise >= 0.0, tf.float32), axis=1)
        to_select = tf.minimum(
            tf.math.ceil(count * self.selection_rate), float(self.max_selections_per_batch)
        )
        ranks = tf.argsort(tf.argsort(-noise, axis=1, stable=True), axis=1, stable=True)
        selected = (tf.cast(ranks, tf.float32) < to_select[:, None]) & (noise >= 0.0)
        return tf.RaggedTensor.from_tensor(selected, lengths=input_ids.row_lengths())


@register
class MaskedLMMaskGenerator(keras_nlp.layers.MaskedLMMaskGenerator):
    """`keras_nlp.layers.MaskedLMMaskGenerator` whose token selection is seeded.

    keras-nlp 0.12 selects tokens with unseeded shuffles in a parallel `map_fn`; here the
    selection comes from one seeded, batched draw (`_SeededItemSelector`), so with a fixed
    global seed (`keras.utils.set_random_seed`) and a sequential map the same data gives the
    same masks run after run.

    Args:
        seed: op-level seed of the token selection.
        **kwargs: everything `keras_nlp.layers.MaskedLMMaskGenerator` takes (`vocabulary_size`,
            `mask_selection_rate`, `mask_token_id`, `mask_selection_length`,
            `unselectable_token_ids`, `mask_token_rate`, `random_token_rate`).

    Call arguments:
        inputs: token ids (B, L) or (L,).

    Returns:
        The dict of the keras-nlp layer: `token_ids`, `mask_positions`, `mask_ids`,
        `mask_weights`.
    """

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        max_selections = self.mask_selection_length or 2**31 - 1
        self._random_selector = _SeededItemSelector(
            seed,
            max_selections_per_batch=max_selections,
            selection_rate=self.mask_selection_rate,
            unselectable_ids=self.unselectable_token_ids,
        )

    def get_config(self):
        return with_fields(super().get_config(), self, ("seed",))
