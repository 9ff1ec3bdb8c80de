"""ROUGE-1, ROUGE-2 and ROUGE-L (F-measure), as Google's `rouge-score` package computes them.

Tokens are `rouge-score`'s default (no stemming): the text lower-cased, every run of characters
other than a-z and 0-9 replaced by a space (so accented letters split words), split on spaces.
ROUGE-N counts clipped n-gram matches; ROUGE-L uses the longest common subsequence of the two
token lists (sentence-level, not the summary-level ROUGE-Lsum). A pair with an empty side
scores 0. The corpus score is the mean of the per-pair F-measures (what `rouge-score`'s
aggregator reports as the mid value), here times 100.
"""

import collections
import re

_NOT_ALPHANUMERIC = re.compile(r"[^a-z0-9]+")
ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")


def rouge_tokens(text):
    """`rouge-score`'s default tokens of `text` (lower-cased ASCII letters and digits)."""
    return _NOT_ALPHANUMERIC.sub(" ", text.lower()).split()


def _f_measure(matches, predicted, reference):
    """(precision, recall, F1) of `matches` out of `predicted` and `reference` units."""
    precision = matches / predicted if predicted else 0.0
    recall = matches / reference if reference else 0.0
    if precision + recall == 0:
        return precision, recall, 0.0
    return precision, recall, 2 * precision * recall / (precision + recall)


def rouge_n(prediction_tokens, reference_tokens, n):
    """(precision, recall, F1) of clipped n-gram matches between two token lists."""

    def grams(tokens):
        return collections.Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))

    predicted, reference = grams(prediction_tokens), grams(reference_tokens)
    matches = sum((predicted & reference).values())
    return _f_measure(matches, sum(predicted.values()), sum(reference.values()))


def longest_common_subsequence(a, b):
    """Length of the longest common subsequence of two sequences (O(len(a) len(b)))."""
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b):
            current.append(previous[j] + 1 if x == y else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def rouge_l(prediction_tokens, reference_tokens):
    """(precision, recall, F1) of the longest common subsequence of two token lists."""
    if not prediction_tokens or not reference_tokens:
        return 0.0, 0.0, 0.0
    lcs = longest_common_subsequence(prediction_tokens, reference_tokens)
    return _f_measure(lcs, len(prediction_tokens), len(reference_tokens))


def rouge_pair(prediction, reference):
    """{"rouge1", "rouge2", "rougeL"}: (precision, recall, F1) of one prediction and reference.

    Example:
    >>> rouge_pair("the cat sat", "the cat sat down")["rouge1"][2]  # F1
    0.8571428571428571
    """
    p, r = rouge_tokens(prediction), rouge_tokens(reference)
    return {"rouge1": rouge_n(p, r, 1), "rouge2": rouge_n(p, r, 2), "rougeL": rouge_l(p, r)}


def rouge(predictions, references):
    """Mean ROUGE-1/2/L F-measure (0-100) over prediction/reference pairs.

    Args:
        predictions: generated texts.
        references: one reference text per prediction.

    Returns:
        {"rouge1": ..., "rouge2": ..., "rougeL": ...}.
    """
    predictions, references = list(predictions), list(references)
    if len(predictions) != len(references):
        raise ValueError(
            f"ROUGE needs one reference per prediction: {len(predictions)} predictions, "
            f"{len(references)} references"
        )
    if not predictions:
        raise ValueError("ROUGE of no pairs is undefined")
    totals = dict.fromkeys(ROUGE_TYPES, 0.0)
    for prediction, reference in zip(predictions, references):
        for name, (_, _, f1) in rouge_pair(prediction, reference).items():
            totals[name] += f1
    return {name: 100.0 * total / len(predictions) for name, total in totals.items()}


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def lead_sentence(text):
    """The first sentence of `text` (up to the first ".", "!" or "?" followed by a space):
    the lead baseline of summarization."""
    return _SENTENCE_END.split(text.strip(), maxsplit=1)[0]
