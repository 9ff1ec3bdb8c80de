"""Symmetric InfoNCE (CLIP) between modality embeddings, with negatives from every replica.

Under a `tf.distribute` replica context with several replicas in sync (MirroredStrategy,
MultiWorkerMirroredStrategy, TPUStrategy), each replica scores its local queries against the
candidates of the whole global batch (gathered with `ReplicaContext.all_gather`, which is
differentiable: its gradient is all-reduced back to the replica that owns each row). The loss is
the mean over the replica's own valid rows; the caller divides it by the number of replicas before
the gradients are summed, as Keras does for every loss.

Hard negatives (NegCLIP-style, e.g. a caption with one word swapped) join the candidates of one
direction: with text negatives, each image also has to rank its caption above every swapped
caption in the (global) batch, which it can only do by seeing what the swapped word names.
"""

from mmlm.backend import tf

PAIRS = (("text", "image"), ("text", "audio"), ("image", "audio"))


def present_pairs(modalities, present):
    """(a, b, valid) for each pair of `PAIRS` whose two modalities are in `modalities`.

    valid: bool (B,), the rows where both are present (`present[m]`: (B,) flags).
    """
    for a, b in PAIRS:
        if a in modalities and b in modalities:
            yield a, b, tf.logical_and(tf.cast(present[a], tf.bool), tf.cast(present[b], tf.bool))


# Added to the logits of absent candidates. Finite (not -inf) so that a row whose every candidate
# is absent still has a finite cross-entropy, which its zero weight then removes.
_ABSENT_LOGIT = -1e9


def gather_candidates(embeddings_a, embeddings_b, valid):
    """Candidates from every replica in sync, and where the local rows sit among them.

    Returns:
        (candidates_a, candidates_b, candidates_valid, offset): the gathered (B_all, D)
        embeddings, the gathered (B_all,) bool validity, and the int32 index of local row 0 in the
        gathered batch. Without a multi-replica context the candidates are the local rows.
    """
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return embeddings_a, embeddings_b, valid, tf.constant(0, tf.int32)
    replica_id = tf.cast(context.replica_id_in_sync_group, tf.int32)
    local_batch = tf.shape(embeddings_a)[0]
    candidates_a, candidates_b = context.all_gather([embeddings_a, embeddings_b], axis=0)
    # The owner of each gathered row, so the offset is right even when replicas hold batches of
    # different sizes (a final partial batch); with equal batches it is replica_id * B.
    candidates_valid, owners = context.all_gather(
        [tf.cast(valid, tf.int32), tf.fill([local_batch], replica_id)], axis=0
    )
    offset = tf.reduce_sum(tf.cast(owners < replica_id, tf.int32))
    return candidates_a, candidates_b, tf.cast(candidates_valid, tf.bool), offset


def gather_negatives(negatives):
    """(embeddings, valid) of hard negatives gathered from every replica in sync."""
    embeddings, valid = negatives
    embeddings = tf.cast(embeddings, tf.float32)
    valid = tf.cast(valid, tf.bool)
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return embeddings, valid
    # Validity rides as an extra column: one gather, and no int32 tensor (those live on the
    # host) mixed into a float one.
    rows = tf.concat([embeddings, tf.cast(valid, tf.float32)[:, None]], axis=-1)
    rows = context.all_gather(rows, axis=0)
    return rows[:, :-1], rows[:, -1] > 0.5


def contrastive_loss(
    embeddings_a, embeddings_b, logit_scale, valid=None, negatives_a=None, negatives_b=None
):
    """Symmetric InfoNCE between two modalities (CLIP).

    Args:
        embeddings_a: (B, D) L2-normalized embeddings of the first modality.
        embeddings_b: (B, D) L2-normalized embeddings of the second modality; row i of both is a
            positive pair.
        logit_scale: scalar 1 / temperature, already exponentiated and clipped by the caller.
        valid: optional (B,) bool, rows where both modalities are present. Invalid rows are
            neither queries nor candidates. None means every row is valid.
        negatives_a: optional (embeddings (N, D), valid (N,) bool) of extra candidates for the
            b -> a direction: hard negatives in modality a (e.g. captions with a word swapped).
            Invalid ones are not candidates. Gathered across replicas like the rows.
        negatives_b: the same for the a -> b direction.

    Returns:
        float32 scalar: the mean over valid local rows of (CE(a -> b) + CE(b -> a)) / 2, or 0 when
        no row is valid. Under several replicas in sync this is the per-replica mean.
    """
    embeddings_a = tf.cast(embeddings_a, tf.float32)  # (B, D)
    embeddings_b = tf.cast(embeddings_b, tf.float32)  # (B, D)
    logit_scale = tf.cast(logit_scale, tf.float32)
    if valid is None:
        valid = tf.ones(tf.shape(embeddings_a)[:1], tf.bool)
    valid = tf.cast(valid, tf.bool)  # (B,)

    candidates_a, candidates_b, candidates_valid, offset = gather_candidates(
        embeddings_a, embeddings_b, valid
    )
    labels = offset + tf.range(tf.shape(embeddings_a)[0])  # (B,)

    def cross_entropy(queries, candidates, negatives):
        candidates_ok = candidates_valid
        if negatives is not None:  # appended after the rows, so the labels stay put
            negative_embeddings, negative_valid = gather_negatives(negatives)
            candidates = tf.concat([candidates, negative_embeddings], axis=0)
            candidates_ok = tf.concat([candidates_ok, negative_valid], axis=0)
        absent = tf.where(candidates_ok, 0.0, _ABSENT_LOGIT)[None, :]  # (1, candidates)
        logits = logit_scale * tf.matmul(queries, candidates, transpose_b=True) + absent
        return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)

    per_row = 0.5 * (
        cross_entropy(embeddings_a, candidates_b, negatives_b)
        + cross_entropy(embeddings_b, candidates_a, negatives_a)
    )  # (B,)
    weights = tf.cast(valid, tf.float32)
    return tf.math.divide_no_nan(tf.reduce_sum(per_row * weights), tf.reduce_sum(weights))


def pairwise_contrastive_losses(embeddings, present, logit_scale, negatives=None, logit_bias=None):
    """`contrastive_loss` (or the sigmoid loss) for every pair of `PAIRS` whose two modalities
    are both given.

    Args:
        embeddings: dict modality name ("text", "image", "audio"; any subset) -> (B, D)
            L2-normalized embeddings.
        present: dict modality name -> (B,) bool, rows where that modality is present; needs a
            key for every modality in `embeddings`.
        logit_scale: scalar 1 / temperature.
        negatives: optional dict modality -> (embeddings, valid) hard negatives of that
            modality, extra candidates for the queries of every other modality paired with it.
        logit_bias: None: symmetric InfoNCE (`contrastive_loss`); a scalar: the pairwise
            sigmoid loss (`sigmoid_contrastive_loss`, SigLIP) with this bias.

    Returns:
        dict "a_b" -> float32 scalar loss, in `PAIRS` order, over rows where both are present.
    """
    unknown = sorted(set(embeddings) - {name for pair in PAIRS for name in pair})
    if unknown:
        raise ValueError(f"Unknown modalities {unknown}; expected names from {PAIRS}.")
    missing = sorted(set(embeddings) - set(present))
    if missing:
        raise ValueError(f"`present` has no entry for modalities {missing}.")
    negatives = negatives or {}
    unknown = sorted(set(negatives) - set(embeddings))
    if unknown:
        raise ValueError(f"Hard negatives for {unknown}, which have no embeddings.")
    if logit_bias is None:
        pair_loss = contrastive_loss
    else:
        # Here, not at the top: that module builds on this one's candidate gathering.
        from mmlm.objectives.sigmoid_contrastive import sigmoid_contrastive_loss

        def pair_loss(a, b, scale, valid, **negatives):
            return sigmoid_contrastive_loss(a, b, scale, logit_bias, valid, **negatives)

    return {
        f"{a}_{b}": pair_loss(
            embeddings[a],
            embeddings[b],
            logit_scale,
            valid,
            negatives_a=negatives.get(a),
            negatives_b=negatives.get(b),
        )
        for a, b, valid in present_pairs(embeddings, present)
    }
