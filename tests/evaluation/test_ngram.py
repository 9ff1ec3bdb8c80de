"""The Kneser-Ney baseline: a normalized distribution, a hand-computed case, perplexity."""

import math

import numpy as np
import pytest

from mmlm.evaluation.ngram import KneserNeyLanguageModel

START, END = 1, 2
CORPUS = [[START, 5, 6, END], [START, 5, 7, END], [START, 8, 6, END], [START, 5, 6, 6, END]]


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_every_context_gives_a_distribution(order):
    lm = KneserNeyLanguageModel(order, vocabulary_size=10).fit(CORPUS)
    for context in ([START], [START, 5], [5, 6], [9, 9], [START, 8, 6], []):
        total = sum(lm.probability(token, context) for token in range(10))
        assert total == pytest.approx(1.0), context


def test_hand_computed_bigram():
    lm = KneserNeyLanguageModel(2, vocabulary_size=10, discount=0.5).fit(CORPUS)
    # Continuation counts of token 6: preceded by 5 and 8 and 6 → 3; all bigram types: 8
    # (1→5, 5→6, 6→2, 5→7, 7→2, 1→8, 8→6, 6→6). p_cont(6) = 3/8 - 0.5/8 ... interpolated with
    # the uniform: (3 - 0.5)/8 + 0.5 * 5/8 * 1/10 (5 distinct continued tokens: 5, 6, 2, 7, 8).
    unigram_6 = (3 - 0.5) / 8 + 0.5 * 5 / 8 / 10
    # After 5: 6 twice, 7 once (3 tokens, 2 types).
    expected = (2 - 0.5) / 3 + 0.5 * 2 / 3 * unigram_6
    assert lm.probability(6, [START, 5]) == pytest.approx(expected)
    # An unseen context backs off entirely.
    assert lm.probability(6, [9]) == pytest.approx(unigram_6)


def test_perplexity_is_exp_mean_cross_entropy_and_seen_text_scores_better():
    lm = KneserNeyLanguageModel(3, vocabulary_size=10).fit(CORPUS)
    nll, tokens = lm.cross_entropy(CORPUS[:2])
    assert tokens == 6
    assert lm.perplexity(CORPUS[:2]) == pytest.approx(math.exp(nll / tokens))
    unseen = [[START, 9, 3, 4, END]]
    assert lm.perplexity(CORPUS) < lm.perplexity(unseen)
    assert np.isfinite(lm.perplexity(unseen))


def test_bad_arguments():
    with pytest.raises(ValueError, match="order"):
        KneserNeyLanguageModel(0, 10)
