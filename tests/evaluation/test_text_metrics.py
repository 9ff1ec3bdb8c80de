"""Text metrics against their references: sacrebleu (BLEU), jiwer (WER), hand computation."""

import math

import jiwer
import numpy as np
import pytest
import sacrebleu

from mmlm.evaluation.text_metrics import (
    cider,
    corpus_bleu,
    exact_match,
    sacrebleu_report,
    word_error_rate,
)

REFERENCES = [
    "a red circle in the upper left corner",
    "a blue digit seven in the lower right corner and a green square in the upper left corner",
    "the cat sat on the mat.",
    "un triángulo rojo en la esquina superior derecha",
    "a yellow square",
]


def _hypotheses(seed):
    """References with random word substitutions, deletions and duplications."""
    rng = np.random.default_rng(seed)
    vocabulary = sorted({w for r in REFERENCES for w in r.split()})
    hypotheses = []
    for reference in REFERENCES:
        words = []
        for word in reference.split():
            roll = rng.uniform()
            if roll < 0.15:
                continue
            words.append(rng.choice(vocabulary) if roll < 0.3 else word)
            if roll > 0.9:
                words.append(word)
        hypotheses.append(" ".join(words) or "a")
    return hypotheses


@pytest.mark.parametrize("seed", range(5))
def test_bleu_equals_sacrebleu(seed):
    hypotheses = _hypotheses(seed)
    expected = sacrebleu.corpus_bleu(hypotheses, [REFERENCES]).score
    assert corpus_bleu(hypotheses, REFERENCES) == pytest.approx(expected, abs=0.01)
    assert sacrebleu_report(hypotheses, REFERENCES)["bleu"] == pytest.approx(expected)


def test_bleu_extremes_and_report():
    assert corpus_bleu(REFERENCES, REFERENCES) == pytest.approx(100.0)
    assert corpus_bleu(["x y z w"] * 5, REFERENCES) == pytest.approx(0.0)
    report = sacrebleu_report(_hypotheses(0), REFERENCES)
    assert report["bleu_signature"].startswith("nrefs:1|case:mixed|eff:no|tok:13a")
    assert "chrF" not in report["chrf_signature"] and "nc:6" in report["chrf_signature"]
    assert report["chrf"] == pytest.approx(
        sacrebleu.corpus_chrf(_hypotheses(0), [REFERENCES]).score
    )


@pytest.mark.parametrize("seed", range(5))
def test_wer_equals_jiwer(seed):
    hypotheses = _hypotheses(seed)
    assert word_error_rate(hypotheses, REFERENCES) == pytest.approx(
        jiwer.wer(REFERENCES, hypotheses)
    )


def test_wer_hand_computed():
    # One substitution (red → blue) and one deletion (upper) over 8 + 3 reference words.
    hypotheses = ["a blue circle in the left corner", "a yellow square"]
    references = ["a red circle in the upper left corner", "a yellow square"]
    assert word_error_rate(hypotheses, references) == pytest.approx(2 / 11)
    with pytest.raises(ValueError, match="reference 0 is empty"):
        word_error_rate(["a"], [""])
    with pytest.raises(ValueError, match="2 hypotheses but 1 references"):
        word_error_rate(["a", "b"], ["a"])


def test_exact_match():
    assert exact_match(["red ", "two  objects", "blue"], ["red", "two objects", "green"]) == (
        pytest.approx(2 / 3)
    )


def test_cider_hand_computed():
    # Two documents: every n-gram of reference 0 is absent from reference 1, so each has
    # document frequency 1 and idf log(2); the hypothesis equals reference 0 except that it
    # is one word shorter ("a b c" vs "a b c d"), so only n-grams inside "a b c" match.
    references = ["a b c d", "x y z w"]
    hypotheses = ["a b c", "x y z w"]
    per_order = []
    for n, (reference_ngrams, hypothesis_ngrams) in enumerate([(4, 3), (3, 2), (2, 1), (1, 0)]):
        # Equal tf-idf weights (log 2) on each n-gram: cosine = shared / sqrt(|h| |r|).
        cosine = hypothesis_ngrams / math.sqrt(hypothesis_ngrams * reference_ngrams or 1)
        per_order.append(cosine)
    penalty = math.exp(-1 / (2 * 6.0**2))
    first = 10.0 * penalty * sum(per_order) / 4
    assert cider(hypotheses, references) == pytest.approx((first + 10.0) / 2)
