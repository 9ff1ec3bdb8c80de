"""Pairwise sigmoid contrastive loss (SigLIP) between modality embeddings.

Every (query, candidate) pair is a binary classification: positive on the diagonal, negative
elsewhere, with logits `scale * <a_i, b_j> + bias` (Zhai et al. 2023, "Sigmoid Loss for Language
Image Pre-Training"; their initialization: scale 10, bias -10). Unlike InfoNCE nothing is
normalized over a row, so each pair counts once and no second direction is needed.

Under several replicas in sync, each replica scores its local rows against the candidates of the
whole global batch (gathered as for InfoNCE), so the replicas together cover every pair of the
global batch exactly once. The sum over a replica's rows is divided by the replicas' mean count of
valid rows (`global_batch_mean`): the mean of the replicas' losses, which the trainer's
gradient all-reduce computes, is the loss of the global batch on one device, also when replicas
hold different numbers of valid rows.
"""

from mmlm.backend import tf
from mmlm.objectives.contrastive import gather_candidates, gather_negatives
from mmlm.objectives.reduction import global_batch_mean


def sigmoid_contrastive_loss(
    embeddings_a,
    embeddings_b,
    logit_scale,
    logit_bias,
    valid=None,
    negatives_a=None,
    negatives_b=None,
):
    """Pairwise sigmoid loss between two modalities (SigLIP).

    Args:
        embeddings_a: (B, D) L2-normalized embeddings of the first modality.
        embeddings_b: (B, D) L2-normalized embeddings of the second modality; row i of both is a
            positive pair, every other (i, j) a negative one.
        logit_scale: scalar multiplier of the cosine similarities (SigLIP's exp(t')).
        logit_bias: scalar added to every logit (SigLIP's b).
        valid: optional (B,) bool, rows where both modalities are present. Invalid rows are in
            no pair. None means every row is valid.
        negatives_a: optional (embeddings (N, D), valid (N,) bool) of extra negatives in
            modality a (hard negatives: captions with a word swapped), paired with every valid
            row of b. Gathered across replicas like the rows.
        negatives_b: the same in modality b, paired with every valid row of a.

    Returns:
        float32 scalar: sum over valid rows i and their valid candidates j of
        -log sigmoid(z_ij * (scale * <a_i, b_j> + bias)) (z = 1 if i == j else -1), divided by the
        number of valid rows (SigLIP's normalization by the batch size); 0 when no row is valid.
    """
    embeddings_a = tf.cast(embeddings_a, tf.float32)  # (B, D)
    embeddings_b = tf.cast(embeddings_b, tf.float32)  # (B, D)
    logit_scale = tf.cast(logit_scale, tf.float32)
    logit_bias = tf.cast(logit_bias, tf.float32)
    if valid is None:
        valid = tf.ones(tf.shape(embeddings_a)[:1], tf.bool)
    valid = tf.cast(valid, tf.bool)  # (B,)
    rows = tf.cast(valid, tf.float32)

    candidates_a, candidates_b, candidates_valid, offset = gather_candidates(
        embeddings_a, embeddings_b, valid
    )
    del candidates_a  # the local rows of b meet a's rows through the pairs of a's replicas
    local_batch, all_rows = tf.shape(embeddings_a)[0], tf.shape(candidates_b)[0]
    positive = tf.one_hot(offset + tf.range(local_batch), all_rows)  # (B, B_all)
    signs = 2.0 * positive - 1.0
    logits = logit_scale * tf.matmul(embeddings_a, candidates_b, transpose_b=True) + logit_bias
    pairs = rows[:, None] * tf.cast(candidates_valid, tf.float32)[None, :]  # (B, B_all)
    per_row = tf.reduce_sum(tf.nn.softplus(-signs * logits) * pairs, axis=1)  # (B,)

    def negative_terms(queries, negatives):
        """(B,) sum of -log sigmoid(-logit) of each query against the valid hard negatives."""
        negative_embeddings, negative_valid = gather_negatives(negatives)
        logits = logit_scale * tf.matmul(queries, negative_embeddings, transpose_b=True)
        logits += logit_bias
        weights = rows[:, None] * tf.cast(negative_valid, tf.float32)[None, :]
        return tf.reduce_sum(tf.nn.softplus(logits) * weights, axis=1)

    if negatives_b is not None:
        per_row += negative_terms(embeddings_a, negatives_b)
    if negatives_a is not None:
        per_row += negative_terms(embeddings_b, negatives_a)
    return global_batch_mean(tf.reduce_sum(per_row), tf.reduce_sum(rows))
