"""Means over the global batch of losses whose normalizer differs between replicas."""

from mmlm.backend import tf


def global_batch_mean(total, count):
    """`total / count`, with `count` averaged over the replicas in sync (0 if it is 0).

    A loss normalized by a per-replica count (masked tokens, caption tokens, valid patches)
    sees that count differ between replicas. Dividing the local sum by the replicas' mean
    count makes the average over the replicas (what the trainer's all-reduced gradient and the
    logged means compute) the mean over the global batch, as on one device. Outside a
    multi-replica context this is `divide_no_nan(total, count)`.
    """
    context = tf.distribute.get_replica_context()
    if context is not None and context.num_replicas_in_sync > 1:
        count = context.all_reduce(tf.distribute.ReduceOp.MEAN, tf.stop_gradient(count))
    return tf.math.divide_no_nan(total, count)
