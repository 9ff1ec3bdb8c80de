"""Greedy decoding as one graph loop over a fixed-size token buffer.

Each step reruns the decoder over the whole buffer (causal attention makes positions after the
current one irrelevant), so the loop has fixed shapes: it exports to a SavedModel signature and
converts to TFLite with built-in ops only (WHILE, no tensor lists). It costs O(L²) per sequence;
a key/value-cached decoder does the same work in O(L).
"""

from mmlm.backend import tf


def greedy_decode(next_logits, batch_size, max_length, start_id, end_id, pad_id):
    """Greedy token ids, one row per example, stopping at `end_id` or `max_length`.

    Args:
        next_logits: `(token_ids (B, max_length) int32) -> logits (B, max_length, V)`; the
            logits at position i predict token i + 1 and must depend only on tokens 0..i.
        batch_size: B (a scalar tensor is fine).
        max_length: buffer length, the start token included (a Python int).
        start_id, end_id, pad_id: special token ids.

    Returns:
        int32 (B, max_length): the start token, the generated tokens up to and including the
        first end token, then `pad_id`.
    """
    positions = tf.range(max_length, dtype=tf.int32)[None, :]  # (1, L)
    token_ids = tf.where(
        positions == 0,
        tf.fill([batch_size, max_length], tf.constant(start_id, tf.int32)),
        tf.fill([batch_size, max_length], tf.constant(pad_id, tf.int32)),
    )  # (B, L)
    done = tf.zeros([batch_size], tf.bool)  # (B,)

    def step(index, token_ids, done):
        logits = next_logits(token_ids)  # (B, L, V)
        current = tf.gather(logits, index, axis=1)  # (B, V)
        chosen = tf.cast(tf.argmax(current, axis=-1), tf.int32)  # (B,)
        chosen = tf.where(done, tf.constant(pad_id, tf.int32), chosen)
        token_ids = tf.where(positions == index + 1, chosen[:, None], token_ids)
        return index + 1, token_ids, tf.logical_or(done, tf.equal(chosen, end_id))

    def not_finished(index, token_ids, done):
        return tf.logical_and(index < max_length - 1, tf.logical_not(tf.reduce_all(done)))

    _, token_ids, _ = tf.while_loop(not_finished, step, (tf.constant(0, tf.int32), token_ids, done))
    return token_ids
