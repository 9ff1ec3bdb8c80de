"""Masked language modeling: cross-entropy and accuracy at the masked positions."""

from mmlm.backend import tf
from mmlm.objectives.captioning import token_cross_entropy
from mmlm.objectives.reduction import global_batch_mean


def masked_lm_loss(logits, mask_ids, mask_weights):
    """Weighted mean cross-entropy over the selected (masked) positions; 0 if none.

    Args:
        logits: (B, K, V) logits at the K mask positions, any float dtype.
        mask_ids: (B, K) int original token ids at those positions.
        mask_weights: (B, K) 0/1 floats or bool; 0 marks padding of the mask positions.

    Returns:
        float32 scalar.
    """
    total, count = token_cross_entropy(logits, mask_ids, mask_weights)
    return global_batch_mean(total, count)


def masked_lm_accuracy(logits, mask_ids, mask_weights):
    """Weighted share of positions whose argmax is the original id; 0 if none selected.

    Args:
        logits: (B, K, V) logits, any float dtype.
        mask_ids: (B, K) int original ids.
        mask_weights: (B, K) 0/1 floats or bool.

    Returns:
        float32 scalar.
    """
    predictions = tf.argmax(tf.cast(logits, tf.float32), axis=-1, output_type=tf.int32)  # (B, K)
    hits = tf.cast(tf.equal(predictions, tf.cast(mask_ids, tf.int32)), tf.float32)
    weights = tf.cast(mask_weights, tf.float32)
    return tf.math.divide_no_nan(tf.reduce_sum(hits * weights), tf.reduce_sum(weights))
