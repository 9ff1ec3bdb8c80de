"""Next-token (captioning / causal LM) losses over a padded batch of token ids."""

from mmlm.backend import tf
from mmlm.objectives.reduction import global_batch_mean


def token_cross_entropy(logits, labels, weights):
    """Weighted token cross-entropy, summed, with the sum of weights.

    Evaluation accumulates both over batches, so that perplexity is
    exp(total cross-entropy / total weight) rather than a mean of per-batch means.

    Args:
        logits: (B, L, V) logits, any float dtype.
        labels: (B, L) int token ids.
        weights: (B, L) 0/1 floats or bool (padding mask, row validity).

    Returns:
        (sum of weighted cross-entropy, sum of weights), float32 scalars.
    """
    logits = tf.cast(logits, tf.float32)  # (B, L, V)
    weights = tf.cast(weights, tf.float32)  # (B, L)
    # Ids at weight-0 positions may be anything (padding, -1); keep them in range so that the
    # op neither fails on CPU nor returns NaN on GPU, which a zero weight could not remove.
    labels = tf.where(weights > 0, tf.cast(labels, tf.int32), 0)
    cross_entropy = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    return tf.reduce_sum(cross_entropy * weights), tf.reduce_sum(weights)


def causal_lm_loss(logits, labels, weights):
    """Weighted mean token cross-entropy; 0 when every weight is 0.

    Args:
        logits: (B, L, V) logits, any float dtype.
        labels: (B, L) int next-token ids.
        weights: (B, L) 0/1 floats or bool.

    Returns:
        float32 scalar.
    """
    total, count = token_cross_entropy(logits, labels, weights)
    return global_batch_mean(total, count)


def shift_for_causal_lm(token_ids, padding_mask):
    """Splits (B, L) token ids into teacher-forcing inputs and next-token labels.

    Args:
        token_ids: (B, L) int token ids, including start and end tokens.
        padding_mask: (B, L) bool or 0/1, True on real tokens.

    Returns:
        (decoder_inputs, labels, weights): token_ids[:, :-1], token_ids[:, 1:] and
        padding_mask[:, 1:] as float32, each (B, L - 1).
    """
    return token_ids[:, :-1], token_ids[:, 1:], tf.cast(padding_mask[:, 1:], tf.float32)
