"""Hard-negative texts: two different words of one group trade places in each sequence."""

import tensorflow as tf

from mmlm.backend import register
from mmlm.data.preprocessing.word_groups import WordGroupLayer


@register
class WordExchangeNegatives(WordGroupLayer):
    """Exchanges two different words of the same group within each sequence.

    "a red circle in the top left corner and a blue triangle in the bottom right corner" with
    its colours exchanged says "blue circle ... red triangle": the same words, bound to the
    other objects. Such a negative cannot be told from its caption by the bag of words, only by
    which attribute belongs to which object (the binding failures of ARO, Yuksekgonul et al.
    2023). Per sequence, one pair of positions holding different members of one group is chosen
    uniformly, and their tokens are exchanged.

    Args, call arguments and returns: those of `WordGroupLayer` (groups of token ids, a seed;
    token ids in, negatives and a validity flag out); a row is not valid where no two
    different words of one group occur in the sequence.
    """

    def call(self, token_ids):
        dtype = token_ids.dtype
        ids = tf.cast(token_ids, tf.int32)
        length = tf.shape(ids)[1]
        in_group, member = self.find_members(ids)
        group = tf.where(in_group, tf.gather(self._member_group, member), -1)  # (B, L); -1: none
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
