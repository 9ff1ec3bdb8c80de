"""Generated-text metrics: BLEU (keras-nlp), word error rate, CIDEr, exact match, sacrebleu.

All take plain strings. Scores are on sacrebleu's 0-100 scale for BLEU and chrF, and as
fractions for WER and exact match. BLEU uses keras-nlp's `Bleu` metric (13a tokenization,
corpus level, no smoothing), which `tests/evaluation` checks against sacrebleu itself;
`sacrebleu_report` is what reports translation scores with sacrebleu's own signature.
"""

import collections
import math

import numpy as np

from mmlm.backend import keras_nlp


def corpus_bleu(hypotheses, references, max_order=4):
    """Corpus BLEU-`max_order` (0-100) of hypotheses against one reference each."""
    _check_pairs(hypotheses, references)
    metric = keras_nlp.metrics.Bleu(max_order=max_order)
    metric.update_state([[r] for r in references], list(hypotheses))
    return 100.0 * float(metric.result())


def sacrebleu_report(hypotheses, references):
    """BLEU and chrF from sacrebleu itself, with its signatures (for publishing)."""
    import sacrebleu

    _check_pairs(hypotheses, references)
    bleu, chrf = sacrebleu.BLEU(), sacrebleu.CHRF()
    bleu_score = bleu.corpus_score(list(hypotheses), [list(references)])
    chrf_score = chrf.corpus_score(list(hypotheses), [list(references)])
    return {
        "bleu": bleu_score.score,
        "chrf": chrf_score.score,
        "bleu_signature": str(bleu.get_signature()),
        "chrf_signature": str(chrf.get_signature()),
    }


def word_error_rate(hypotheses, references):
    """Corpus WER: word-level edit operations summed over pairs / reference words.

    Words are whitespace-separated (lowercase and strip punctuation first if they should not
    count). Like jiwer, an empty reference is an error: WER is undefined for it.
    """
    _check_pairs(hypotheses, references)
    edits = words = 0
    for index, (hypothesis, reference) in enumerate(zip(hypotheses, references)):
        reference_words = reference.split()
        if not reference_words:
            raise ValueError(f"reference {index} is empty: WER is undefined for it")
        edits += _edit_distance(hypothesis.split(), reference_words)
        words += len(reference_words)
    return edits / words


def exact_match(hypotheses, references):
    """Share of hypotheses equal to their reference after whitespace normalization."""
    _check_pairs(hypotheses, references)
    same = [" ".join(h.split()) == " ".join(r.split()) for h, r in zip(hypotheses, references)]
    return float(np.mean(same))


def cider(hypotheses, references, max_order=4, sigma=6.0):
    """CIDEr-D (Vedantam et al. 2015, as in the COCO caption evaluation), one reference each.

    Per n-gram order: TF-IDF vectors (document frequencies over the references), the cosine of
    hypothesis and reference with the hypothesis counts clipped to the reference's and a
    Gaussian penalty on their length difference; the mean over orders, times 10.
    """
    _check_pairs(hypotheses, references)
    hypotheses = [_ngram_counts(h.split(), max_order) for h in hypotheses]
    references = [_ngram_counts(r.split(), max_order) for r in references]
    frequency = collections.Counter()
    for counts in references:
        frequency.update(set().union(*counts))
    log_documents = math.log(float(len(references)))
    scores = []
    for hypothesis, reference in zip(hypotheses, references):
        score = 0.0
        length_gap = sum(hypothesis[0].values()) - sum(reference[0].values())
        for n in range(max_order):
            h, r = (_tfidf(c[n], frequency, log_documents) for c in (hypothesis, reference))
            dot = sum(min(h[g], r[g]) * r[g] for g in h if g in r)
            norms = _norm(h) * _norm(r)
            if norms:
                score += dot / norms * math.exp(-(length_gap**2) / (2 * sigma**2))
        scores.append(10.0 * score / max_order)
    return float(np.mean(scores))


def _tfidf(counts, frequency, log_documents):
    return {g: c * (log_documents - math.log(max(1.0, frequency[g]))) for g, c in counts.items()}


def _norm(vector):
    return math.sqrt(sum(v * v for v in vector.values()))


def _ngram_counts(words, max_order):
    """[Counter of n-grams of order n + 1 for n in range(max_order)]."""
    return [
        collections.Counter(tuple(words[i : i + n]) for i in range(len(words) - n + 1))
        for n in range(1, max_order + 1)
    ]


def _edit_distance(hypothesis, reference):
    """Levenshtein distance between two token lists (substitutions, insertions, deletions)."""
    previous = list(range(len(reference) + 1))
    for i, h in enumerate(hypothesis, start=1):
        current = [i]
        for j, r in enumerate(reference, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (h != r)))
        previous = current
    return previous[-1]


def _check_pairs(hypotheses, references):
    if len(hypotheses) != len(references):
        raise ValueError(
            f"{len(hypotheses)} hypotheses but {len(references)} references: one each expected"
        )
    if not len(references):
        raise ValueError("no hypotheses to score")
