"""Beam search against exhaustive search on a toy model, and against greedy."""

import itertools

import numpy as np

from mmlm.backend import tf
from mmlm.generation import beam_search, length_penalty_factor
from mmlm.testing import TestCase

START, END = 0, 1
VOCABULARY_SIZE = 4
LENGTH = 4  # start token + 3 generated positions


def toy_table(seed):
    """log p(next | previous token): a random first-order Markov model."""
    logits = np.random.default_rng(seed).normal(scale=2.0, size=(VOCABULARY_SIZE,) * 2)
    return logits - np.log(np.exp(logits).sum(-1, keepdims=True))


def toy_next(table):
    table = tf.constant(table, tf.float32)

    def next_logits(prompt, cache, index):
        return tf.gather(table, tf.gather(prompt, index - 1, axis=1)), cache

    return next_logits


def exhaustive_best(table, alpha):
    """The best (score, tokens) over every sequence that ends or fills the buffer."""
    best = (-np.inf, None)
    for tokens in itertools.product(range(VOCABULARY_SIZE), repeat=LENGTH - 1):
        sequence, logp = [START], 0.0
        for token in tokens:
            logp += table[sequence[-1], token]
            sequence.append(token)
            if token == END:
                break
        generated = len(sequence) - 1
        finished = sequence[-1] == END
        score = logp / ((5 + (generated if finished else LENGTH - 1)) / 6) ** alpha
        best = max(best, (score, tuple(sequence)))
    return best


def greedy_reference(table):
    """Argmax token by token until the end token or a full buffer; (tokens, log p)."""
    sequence, logp = [START], 0.0
    while len(sequence) < LENGTH and sequence[-1] != END:
        token = int(np.argmax(table[sequence[-1]]))
        logp += table[sequence[-1], token]
        sequence.append(token)
    return sequence, logp


def run(table, num_beams, alpha, batch_size=1):
    prompt = np.zeros((batch_size, LENGTH), "int32")
    mask = np.zeros((batch_size, LENGTH), bool)
    mask[:, 0] = True
    return beam_search(toy_next(table), prompt, (), 1, mask, END, num_beams, alpha)


class BeamSearchTest(TestCase):
    def test_wide_beam_finds_the_exhaustive_optimum(self):
        for seed, alpha in itertools.product(range(6), (0.0, 0.6, 2.0)):
            table = toy_table(seed)
            score, tokens = exhaustive_best(table, alpha)
            sequences, scores = run(table, num_beams=VOCABULARY_SIZE**2, alpha=alpha)
            got = sequences.numpy()[0]
            ended = list(got).index(END) + 1 if END in got[1:] else LENGTH
            self.assertEqual(tuple(got[:ended]), tokens, msg=f"seed {seed} alpha {alpha}")
            self.assertAllClose(scores.numpy()[0], score, atol=1e-5)

    def test_beam_is_never_worse_than_greedy(self):
        for seed in range(20):
            table = toy_table(seed)
            _, greedy_logp = greedy_reference(table)
            _, beam_score = run(table, num_beams=3, alpha=0.0)
            self.assertGreaterEqual(beam_score.numpy()[0], greedy_logp - 1e-5, msg=f"seed {seed}")

    def test_greedy_can_be_beaten(self):
        # From the start token, 2 looks best (0.6) but every continuation of it is poor; 3
        # (0.4) leads to the end token with certainty.
        table = np.log(
            np.array(
                [
                    [1e-9, 1e-9, 0.6, 0.4],
                    [0.25, 0.25, 0.25, 0.25],
                    [1e-9, 0.34, 0.33, 0.33],
                    [1e-9, 1.0 - 2e-9, 1e-9, 1e-9],
                ]
            )
        )
        self.assertEqual(greedy_reference(table)[0], [START, 2, END])
        beam, score = run(table, num_beams=2, alpha=0.0)
        self.assertAllEqual(beam.numpy()[0][:3], [START, 3, END])
        self.assertAllClose(score.numpy()[0], np.log(0.4), atol=1e-5)

    def test_rows_are_independent_and_prompt_is_kept(self):
        table = toy_table(3)
        prompt = np.array([[START, 2, 0, 0], [START, 0, 0, 0]], "int32")
        mask = np.array([[True, True, False, False], [True, False, False, False]])
        sequences, _ = beam_search(toy_next(table), prompt, (), 1, mask, END, 4, 0.0)
        self.assertAllEqual(sequences.numpy()[:, :2][0], [START, 2])
        alone, _ = run(table, num_beams=4, alpha=0.0)
        self.assertAllEqual(sequences.numpy()[1], alone.numpy()[0])

    def test_length_penalty_factor(self):
        self.assertAllClose(length_penalty_factor(7, 0.0), 1.0)
        self.assertAllClose(length_penalty_factor(7, 1.0), 2.0)
        with self.assertRaisesRegex(ValueError, "length_penalty"):
            run(toy_table(0), 2, -1.0)
