"""ROUGE-1/2/L against Google's `rouge-score` package on the same pairs."""

import numpy as np
import pytest
from rouge_score import rouge_scorer

from mmlm.evaluation.rouge import longest_common_subsequence, rouge, rouge_pair

EDGE_CASES = [
    ("", ""),
    ("", "a reference"),
    ("a prediction", ""),
    ("!!! ...", "--- ?"),  # no tokens after tokenization on either side
    ("the the the the", "the"),  # clipped counts
    ("the", "the the the the"),
    ("a b a b a b", "b a b a"),
    ("Über café naïve", "uber cafe naive"),  # non-ASCII letters split words
    ("read(2) returns -1 on EOF", "read 2 returns 1 on eof"),
    ("x", "x"),  # one token: ROUGE-2 has no bigrams
    ("CAPITALS and Mixed Case", "capitals AND mixed case"),
    ("tab\tseparated\nnew lines", "tab separated new lines"),
    ("set/get the thread's name", "get or set the name of a thread"),
    ("1 2 3 4 5 6 7 8 9", "9 8 7 6 5 4 3 2 1"),
]


def _random_pairs(count, seed):
    """Pairs drawn from a small vocabulary (many partial overlaps, repeats, punctuation)."""
    rng = np.random.default_rng(seed)
    words = "the a file descriptor read write returns -1 on error, errno is set. (2) x86-64".split()
    words += ["Ünïcode", "NULL", "fd", "buffer", "count", "bytes"]

    def text():
        return " ".join(rng.choice(words, size=rng.integers(0, 25)))

    return [(text(), text()) for _ in range(count)]


PAIRS = EDGE_CASES + _random_pairs(400, seed=0)


@pytest.fixture(scope="module")
def scorer():
    return rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=False)


def test_every_pair_matches_rouge_score(scorer):
    for prediction, reference in PAIRS:
        expected = scorer.score(reference, prediction)  # rouge-score: (target, prediction)
        ours = rouge_pair(prediction, reference)
        for name in ("rouge1", "rouge2", "rougeL"):
            e = expected[name]
            assert ours[name] == pytest.approx((e.precision, e.recall, e.fmeasure), abs=1e-12), (
                name,
                prediction,
                reference,
            )


def test_corpus_score_is_the_mean_f_measure_times_100(scorer):
    predictions, references = zip(*PAIRS)
    scores = rouge(predictions, references)
    for name in ("rouge1", "rouge2", "rougeL"):
        expected = np.mean([scorer.score(r, p)[name].fmeasure for p, r in PAIRS])
        assert scores[name] == pytest.approx(100 * expected, abs=1e-9)


def test_identical_texts_score_100_and_disjoint_score_0():
    assert rouge(["a b c"], ["a b c"]) == {"rouge1": 100.0, "rouge2": 100.0, "rougeL": 100.0}
    assert rouge(["a b c"], ["d e f"]) == {"rouge1": 0.0, "rouge2": 0.0, "rougeL": 0.0}


def test_longest_common_subsequence_against_brute_force():
    import itertools

    rng = np.random.default_rng(1)
    for _ in range(50):
        a = list(rng.integers(0, 3, size=rng.integers(0, 7)))
        b = list(rng.integers(0, 3, size=rng.integers(0, 7)))
        best = max(
            (k for k in range(len(a) + 1) for c in itertools.combinations(a, k) if _is_sub(c, b)),
            default=0,
        )
        assert longest_common_subsequence(a, b) == best


def _is_sub(candidate, sequence):
    iterator = iter(sequence)
    return all(any(x == y for y in iterator) for x in candidate)


def test_mismatched_or_empty_inputs_are_errors():
    with pytest.raises(ValueError, match="one reference per prediction: 2 predictions, 1"):
        rouge(["a", "b"], ["a"])
    with pytest.raises(ValueError, match="no pairs"):
        rouge([], [])
