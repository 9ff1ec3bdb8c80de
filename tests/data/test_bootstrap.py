"""Bootstrap resampling for bagging: counts, their statistics, and the training pipeline."""

import collections
import dataclasses

import numpy as np
import pytest

from mmlm.backend import tf
from mmlm.data.bootstrap import bootstrap_count, poisson_bootstrap
from mmlm.data.pipeline import build_dataset
from mmlm.testing.data import prepared_tiny_idx


def _counts(seed, size):
    resampled = poisson_bootstrap(tf.data.Dataset.range(size), seed)
    return collections.Counter(int(x) for x in resampled.as_numpy_iterator())


def test_counts_are_poisson_one_and_fixed_by_seed():
    counts = _counts(seed=3, size=20000)
    values = np.array([counts.get(i, 0) for i in range(20000)])
    # Poisson(1): mean 1, variance 1, P(0) = 1/e; 4-sigma bounds at N = 20,000.
    assert values.mean() == pytest.approx(1.0, abs=4 * (1 / 20000) ** 0.5)
    assert values.var() == pytest.approx(1.0, abs=0.06)
    assert np.mean(values == 0) == pytest.approx(np.exp(-1), abs=4 * (0.233 / 20000) ** 0.5)
    assert counts == _counts(seed=3, size=20000)  # the same resample every pass
    assert counts != _counts(seed=4, size=20000)
    expected = [int(bootstrap_count(3, i)) for i in range(50)]
    assert [counts.get(i, 0) for i in range(50)] == expected


def test_negative_seed_is_refused():
    with pytest.raises(ValueError, match="bootstrap seed must be >= 0, got -2"):
        poisson_bootstrap(tf.data.Dataset.range(3), -2)


def _train_indices(config, source, seed):
    data = dataclasses.replace(config.data, bootstrap_seed=seed, global_batch_size=1)
    dataset = build_dataset(data, "train", vocabulary=None, training=True, source=source)
    return sorted(int(i) for batch in dataset for i in batch["index"].numpy())


def test_training_reads_the_resample_and_evaluation_the_whole_split():
    config, source = prepared_tiny_idx()
    plain = _train_indices(config, source, -1)
    assert plain == list(range(40))  # 48 training examples, the last 8 are validation
    bagged = _train_indices(config, source, 1)
    # Counts follow the positions in the stored order (not the `index` feature).
    order = [int(e["index"]) for e in source.load("train", shuffle_files=False)]
    expected = sorted(i for p, i in enumerate(order) for _ in range(int(bootstrap_count(1, p))))
    assert bagged == expected and bagged != plain
    assert _train_indices(config, source, 1) == bagged
    data = dataclasses.replace(config.data, bootstrap_seed=1)
    validation = build_dataset(data, "validation", vocabulary=None, training=False, source=source)
    assert sum(int(b["index"].shape[0]) for b in validation) == 8
