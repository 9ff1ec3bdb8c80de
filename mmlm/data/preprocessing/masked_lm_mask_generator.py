"""keras-nlp's masked-LM masking with a seed for the token selection."""

import tensorflow as tf
import tensorflow_text as tf_text

from mmlm.backend import keras_nlp, register


@register
class MaskedLMMaskGenerator(keras_nlp.layers.MaskedLMMaskGenerator):
    """`keras_nlp.layers.MaskedLMMaskGenerator` whose token selection is seeded.

    keras-nlp 0.12 selects tokens with an unseeded `tf.random.shuffle`; here the shuffle carries
    an op-level seed, so with a fixed global seed (`keras.utils.set_random_seed`) and a
    sequential map, the same data gives the same masks run after run.

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
        self._random_selector = tf_text.RandomItemSelector(
            max_selections_per_batch=max_selections,
            selection_rate=self.mask_selection_rate,
            unselectable_ids=self.unselectable_token_ids,
            shuffle_fn=lambda positions: tf.random.shuffle(positions, seed=seed),
        )

    def get_config(self):
        config = super().get_config()
        config["seed"] = self.seed
        return config
