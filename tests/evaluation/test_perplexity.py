"""Perplexity accumulated over batches, against a hand-computed case."""

import math

import numpy as np
import pytest

from mmlm.backend import tf
from mmlm.evaluation.perplexity import PerplexityAccumulator


def test_hand_computed_perplexity_over_uneven_batches():
    # Token probabilities 1/2, 1/4 | 1/8, 1/2, 1/2: perplexity = (1/256)^(-1/5) = 2^(8/5).
    probabilities = [[0.5, 0.25], [0.125, 0.5, 0.5]]
    accumulator = PerplexityAccumulator()
    for batch in probabilities:
        accumulator.update(-np.log(batch), token_count=len(batch))
    assert accumulator.total_tokens == 5
    assert accumulator.result() == pytest.approx(2 ** (8 / 5))
    # Not the mean of per-batch perplexities (sqrt(8) and 2^(5/3)).
    assert accumulator.result() != pytest.approx((8**0.5 + 2 ** (5 / 3)) / 2)


def test_accepts_tensors_and_resets():
    accumulator = PerplexityAccumulator()
    accumulator.update(tf.constant(3.0), tf.constant(3))
    assert accumulator.result() == pytest.approx(math.e)
    accumulator.reset()
    with pytest.raises(ValueError, match="without tokens"):
        accumulator.result()


def test_invalid_and_diverged_inputs():
    accumulator = PerplexityAccumulator()
    with pytest.raises(ValueError, match="token_count"):
        accumulator.update(1.0, -1)
    accumulator.update(float("nan"), 2)
    assert math.isnan(accumulator.result())
    overflowing = PerplexityAccumulator()
    overflowing.update(1e6, 1)
    assert overflowing.result() == math.inf
