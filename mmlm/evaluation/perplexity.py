"""Corpus perplexity accumulated over batches: exp(total cross-entropy / total tokens).

Summing per-token cross-entropy and token counts (rather than averaging per-batch perplexities)
weights every token equally, whatever the batch sizes and padding.
"""

import math

import numpy as np


class PerplexityAccumulator:
    """Accumulates summed cross-entropy (nats) and token counts over batches.

    Example:
    >>> accumulator = PerplexityAccumulator()
    >>> accumulator.update(ce_sum=2.0, token_count=2)
    >>> accumulator.update(ce_sum=1.0, token_count=1)
    >>> round(accumulator.result(), 4)  # exp(3 / 3)
    2.7183
    """

    def __init__(self):
        self.reset()

    def reset(self):
        self.total_cross_entropy = 0.0
        self.total_tokens = 0

    def update(self, ce_sum, token_count):
        """Adds a batch.

        Args:
            ce_sum: summed (not averaged) cross-entropy in nats over the batch's real tokens;
                a number, NumPy array or eager tensor (arrays are summed).
            token_count: number of real (non-padding) tokens behind `ce_sum`.
        """
        token_count = float(np.sum(token_count))
        if token_count < 0 or token_count != int(token_count):
            raise ValueError(f"`token_count` must be a non-negative integer, got {token_count}.")
        # NaN is kept: a diverged model must show a NaN perplexity, not a plausible number.
        self.total_cross_entropy += float(np.sum(ce_sum))
        self.total_tokens += int(token_count)

    def mean_cross_entropy(self):
        """Mean cross-entropy per token in nats."""
        if self.total_tokens == 0:
            raise ValueError(
                "Perplexity is undefined without tokens: `update` was never called with "
                "`token_count` > 0."
            )
        return self.total_cross_entropy / self.total_tokens

    def result(self):
        """exp(total cross-entropy / total tokens); `inf` when that overflows a float."""
        mean = self.mean_cross_entropy()
        try:
            return math.exp(mean)
        except OverflowError:
            return math.inf
