"""Hard-negative texts: two different words of one group trade places in each sequence."""

import tensorflow as tf

from mmlm.backend import keras, register
from mmlm.data.preprocessing.word_swap import word_groups


@register
class WordExchangeNegatives(keras.layers.Layer):
    """Exchanges two different words of the same group within each sequence.

    "a red circle in the top left corner and a blue triangle in the bottom right corner" with
    its colours exchanged says "blue circle ... red triangle": the same words, bound to the
    other objects. Such a negative cannot be told from its caption by the bag of words, only by
    which attribute belongs to which object (the binding failures of ARO, Yuksekgonul et al.
    2023). Per sequence, one pair of positions holding different members of one group is chosen
    uniformly, and their tokens are exchanged.

    Args:
        groups: list of lists of token ids; each group has at least 2 distinct ids, and an id is
            in at most one group.
        seed: op-level seed of the draws.

    Call arguments:
        token_ids: int (B, L) token ids.

    Returns:
        (negative_token_ids int (B, L), valid bool (B,)): valid is False (and the row unchanged)
        where no two different words of one group occur in the sequence.
    """

    def __init__(self, groups, seed=None, **kwargs):
        super().__init__(**kwargs)
        groups = word_groups(groups, type(self).__name__)
        members = [i for group in groups for i in group]
        self.groups = groups
        self.seed = seed
        self._members = tf.constant(members, tf.int32)  # (M,)
        self._member_group = tf.constant(
            [g for g, group in enumerate(groups) for _ in group], tf.int32
        )

    def call(self, token_ids):
        dtype = token_ids.dtype
        ids = tf.cast(token_ids, tf.int32)
        length = tf.shape(ids)[1]
        matches = tf.equal(ids[..., None], self._members)  # (B, L, M)
        member = tf.argmax(tf.cast(matches, tf.int32), axis=-1, output_type=tf.int32)
        group = tf.where(
            tf.reduce_any(matches, axis=-1), tf.gather(self._member_group, member), -1
        )  # (B, L); -1 outside every group
        # Pairs i < j of one group holding different words.
        same_group = tf.logical_and(
            tf.equal(group[:, :, None], group[:, None, :]), group[:, :, None] >= 0
        )
        different = tf.not_equal(ids[:, :, None], ids[:, None, :])
        positions = tf.range(length)
        upper = positions[:, None] < positions[None, :]
        pairs = tf.logical_and(tf.logical_and(same_group, different), upper)  # (B, L, L)
        flat = tf.reshape(pairs, [tf.shape(ids)[0], -1])
        noise = tf.random.uniform(tf.shape(flat), seed=self.seed)
        chosen = tf.argmax(tf.where(flat, noise, -1.0), axis=-1, output_type=tf.int32)
        first, second = chosen // length, chosen % length  # (B,)
        valid = tf.reduce_any(flat, axis=-1)
        first_token = tf.gather(ids, first, batch_dims=1)
        second_token = tf.gather(ids, second, batch_dims=1)
        at_first = tf.logical_and(tf.equal(positions[None, :], first[:, None]), valid[:, None])
        at_second = tf.logical_and(tf.equal(positions[None, :], second[:, None]), valid[:, None])
        negatives = tf.where(at_first, second_token[:, None], ids)
        negatives = tf.where(at_second, first_token[:, None], negatives)
        return tf.cast(negatives, dtype), valid

    def get_config(self):
        config = super().get_config()
        config.update({"groups": self.groups, "seed": self.seed})
        return config
