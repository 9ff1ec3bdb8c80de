"""The base of hard-negative generators that rewrite words within groups of token ids."""

import tensorflow as tf

from mmlm.backend import keras
from mmlm.layers.config_fields import with_fields


class WordGroupLayer(keras.layers.Layer):
    """Holds checked groups of single-token words and finds their members in token ids.

    Args:
        groups: list of lists of token ids; each group has at least 2 distinct ids, and an id is
            in at most one group.
        seed: op-level seed of the subclass's draws.

    Call arguments (of the subclasses):
        token_ids: int (B, L) token ids.

    Returns (of the subclasses):
        (negative_token_ids, same dtype and shape, valid bool (B,)): valid is False, and the row
        unchanged, where the sequence holds nothing the subclass can rewrite.

    Raises:
        ValueError: naming the layer class and the offending group.
    """

    def __init__(self, groups, seed=None, **kwargs):
        super().__init__(**kwargs)
        owner = type(self).__name__
        groups = [[int(i) for i in group] for group in groups]
        if not groups:
            raise ValueError(f"{owner} needs at least one group of token ids.")
        for group in groups:
            if len(set(group)) < 2:
                raise ValueError(
                    f"{owner}: a group needs at least 2 distinct token ids, got {group}."
                )
        members = [i for group in groups for i in group]
        if len(set(members)) != len(members):
            raise ValueError(f"{owner}: a token id is in more than one group: {groups}.")
        self.groups = groups
        self.seed = seed
        self._members = tf.constant(members, tf.int32)  # (M,)
        self._member_group = tf.constant(
            [g for g, group in enumerate(groups) for _ in group], tf.int32
        )

    def find_members(self, ids):
        """(in_group bool (B, L), member int32 (B, L)) of int32 `ids`: which positions hold a
        group word, and its index into the flattened members (0 where `in_group` is False)."""
        matches = tf.equal(ids[..., None], self._members)  # (B, L, M)
        member = tf.argmax(tf.cast(matches, tf.int32), axis=-1, output_type=tf.int32)
        return tf.reduce_any(matches, axis=-1), member

    def get_config(self):
        return with_fields(super().get_config(), self, ("groups", "seed"))
