"""An interpolated Kneser-Ney n-gram language model: the honest baseline of the decoder.

It works on the same token ids as the decoder (WordPiece, start and end tokens), so its test
perplexity is per the same tokens as the decoder's: exp(mean cross-entropy of every token
after the start token, the end token included).
"""

import collections
import math


class KneserNeyLanguageModel:
    """Interpolated Kneser-Ney smoothing (Chen & Goodman 1998) with one absolute discount.

    p(w | h) = max(c(h w) - D, 0) / c(h) + D · N1+(h ·) / c(h) · p(w | h'), where h' drops the
    oldest token of h, counts of lower orders are continuation counts (how many distinct
    tokens precede the n-gram), and the recursion ends in the uniform distribution over the
    vocabulary (so unseen tokens keep a non-zero probability). Contexts never seen back off
    entirely to the shorter context.

    Args:
        order: n (3 = trigrams).
        vocabulary_size: tokens the model spreads the last-resort uniform mass over.
        discount: D in (0, 1).

    Example:
    >>> lm = KneserNeyLanguageModel(order=3, vocabulary_size=100)
    >>> lm.fit([[2, 10, 11, 3], [2, 10, 12, 3]])
    >>> lm.perplexity([[2, 10, 11, 3]])
    """

    def __init__(self, order, vocabulary_size, discount=0.75):
        if order < 1 or not 0 < discount < 1:
            raise ValueError(f"need order >= 1 and 0 < discount < 1, got {order}, {discount}")
        self.order, self.vocabulary_size, self.discount = order, vocabulary_size, discount
        # counts[k][context] = Counter of next tokens, for contexts of length k.
        self.counts = [collections.defaultdict(collections.Counter) for _ in range(order)]

    def fit(self, sequences):
        """Counts the n-grams of token sequences (each starting with the start token)."""
        for sequence in sequences:
            sequence = list(sequence)
            for i in range(1, len(sequence)):
                # Near the start the context is shorter: those keep raw counts at their order.
                context = tuple(sequence[max(0, i - self.order + 1) : i])
                self.counts[len(context)][context][sequence[i]] += 1
        # Lower orders count continuations: the distinct tokens seen before an n-gram. (A
        # context starting with the start token never follows another token, so raw and
        # continuation counts never share a context.)
        for k in range(self.order - 2, -1, -1):
            before = collections.defaultdict(set)
            for context, nexts in self.counts[k + 1].items():
                for token in nexts:
                    before[(context[1:], token)].add(context[0])
            for (context, token), previous in before.items():
                self.counts[k][context][token] = len(previous)
        return self

    def probability(self, token, context):
        """p(token | context), context the previous tokens (only the last order - 1 count)."""
        context = tuple(context)[len(context) - self.order + 1 :] if self.order > 1 else ()
        return self._probability(token, context)

    def _probability(self, token, context):
        uniform = 1.0 / self.vocabulary_size
        shorter = self._probability(token, context[1:]) if context else uniform
        nexts = self.counts[len(context)].get(context)
        if not nexts:
            return shorter
        total = sum(nexts.values())
        discounted = max(nexts.get(token, 0) - self.discount, 0.0) / total
        return discounted + self.discount * len(nexts) / total * shorter

    def cross_entropy(self, sequences):
        """(summed negative log-likelihood in nats, predicted tokens) of token sequences."""
        nll, tokens = 0.0, 0
        for sequence in sequences:
            sequence = list(sequence)
            for i in range(1, len(sequence)):
                nll -= math.log(self.probability(sequence[i], sequence[:i]))
                tokens += 1
        return nll, tokens

    def perplexity(self, sequences):
        nll, tokens = self.cross_entropy(sequences)
        return math.exp(nll / tokens)
