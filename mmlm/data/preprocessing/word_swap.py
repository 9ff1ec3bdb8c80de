"""Hard-negative texts: each sequence with one word swapped for another of its group."""

import tensorflow as tf

from mmlm.backend import register
from mmlm.data.preprocessing.word_groups import WordGroupLayer


@register
class WordSwapNegatives(WordGroupLayer):
    """Swaps one random word of each sequence for a different word of the same group.

    Groups are sets of interchangeable single-token words (e.g. the shape names "circle",
    "rectangle", "triangle"): a caption with one of them swapped says something false about the
    same scene, which makes it a hard negative for contrastive learning (NegCLIP, Yuksekgonul et
    al. 2023). Per sequence, one position holding a group member is chosen uniformly, and its
    token is replaced by one of the other members of its group, uniformly.

    Args, call arguments and returns: those of `WordGroupLayer` (groups of token ids, a seed;
    token ids in, negatives and a validity flag out); a row is not valid where the sequence
    has no word of any group.
    """

    def __init__(self, groups, seed=None, **kwargs):
        super().__init__(groups, seed=seed, **kwargs)
        groups = self.groups
        width = max(len(group) for group in groups)
        self._member_slot = tf.constant([s for group in groups for s in range(len(group))])
        self._group_sizes = tf.constant([len(group) for group in groups], tf.int32)
        self._table = tf.constant(
            [group + [-1] * (width - len(group)) for group in groups], tf.int32
        )  # (G, width)

    def call(self, token_ids):
        dtype = token_ids.dtype
        ids = tf.cast(token_ids, tf.int32)
        swappable, member = self.find_members(ids)  # (B, L), (B, L)
        noise = tf.random.uniform(tf.shape(ids), seed=self.seed)
        position = tf.argmax(tf.where(swappable, noise, -1.0), axis=-1, output_type=tf.int32)
        chosen = tf.gather(member, position, batch_dims=1)  # (B,) index into the members
        group = tf.gather(self._member_group, chosen)
        size = tf.gather(self._group_sizes, group)
        # A uniform choice among the size - 1 other slots of the group.
        step = 1 + tf.cast(
            tf.random.uniform(tf.shape(group), seed=self._second_seed())
            * tf.cast(size - 1, tf.float32),
            tf.int32,
        )
        slot = (tf.gather(self._member_slot, chosen) + tf.minimum(step, size - 1)) % size
        replacement = tf.gather_nd(self._table, tf.stack([group, slot], axis=-1))  # (B,)
        valid = tf.reduce_any(swappable, axis=-1)
        at_position = tf.equal(tf.range(tf.shape(ids)[1])[None, :], position[:, None])
        swap = tf.logical_and(at_position, valid[:, None])
        negatives = tf.where(swap, replacement[:, None], ids)
        return tf.cast(negatives, dtype), valid

    def _second_seed(self):
        # Two random ops with one op seed would draw the same stream.
        return None if self.seed is None else self.seed + 1
