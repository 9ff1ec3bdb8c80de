"""Bootstrap resampling of a `tf.data` split, for bagging.

`poisson_bootstrap` repeats each example k ~ Poisson(1) times, k drawn statelessly from
(seed, the example's position): the Poisson bootstrap (Oza and Russell's online bagging), the
large-N limit of N draws with replacement from N examples, which needs no count of the split
and keeps streaming. About 1 - 1/e ≈ 63 % of the examples appear at least once, as in a
classic bootstrap. The counts depend only on the seed and the positions, so every epoch reads
the same resample if the source's order is fixed (the pipeline then does not shuffle files).
"""

import tensorflow as tf


def bootstrap_count(seed, position):
    """The Poisson(1) count (int64 scalar) of the example at `position` under `seed`."""
    key = tf.stack([tf.constant(seed, tf.int64), tf.cast(position, tf.int64)])
    return tf.random.stateless_poisson([], key, lam=1.0, dtype=tf.int64)


def poisson_bootstrap(dataset, seed):
    """`dataset` with each example repeated `bootstrap_count(seed, position)` times, in order.

    Args:
        dataset: unbatched examples in a fixed order.
        seed: the resample's seed (an int >= 0); another seed, another resample.
    """
    if seed < 0:
        raise ValueError(f"bootstrap seed must be >= 0, got {seed}")

    def repeat(position, example):
        return tf.data.Dataset.from_tensors(example).repeat(bootstrap_count(seed, position))

    return dataset.enumerate().flat_map(repeat)
