"""Independent NumPy references and random inputs for the tests of losses over tokens."""

import numpy as np


def numpy_token_cross_entropy(logits, labels):
    """-log softmax(logits)[label] over the last axis, with log-sum-exp written out, float64.

    logits (..., V), labels int (...) → (...).
    """
    logits = logits.astype(np.float64)
    peak = logits.max(axis=-1, keepdims=True)
    log_sum_exp = peak[..., 0] + np.log(np.exp(logits - peak).sum(axis=-1))
    return log_sum_exp - np.take_along_axis(logits, labels[..., None], axis=-1)[..., 0]


def random_token_logits(seed, shape, vocabulary, scale):
    """float32 logits (*shape, vocabulary) drawn as scale x N(0, 1), and int32 labels (*shape)."""
    rng = np.random.default_rng(seed)
    logits = (scale * rng.standard_normal((*shape, vocabulary))).astype(np.float32)
    labels = rng.integers(0, vocabulary, shape).astype(np.int32)
    return logits, labels
