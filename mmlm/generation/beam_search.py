"""Beam search with a GNMT length penalty and early stopping, as one graph loop.

keras-nlp's `BeamSampler` has neither a length penalty nor finished hypotheses (a beam that
emits the end token keeps extending), so captions would be scored by their padding. This keeps,
per row, `num_beams` alive hypotheses and the `num_beams` best finished ones, and stops a row
once no alive hypothesis can still beat its worst finished one.
"""

from mmlm.backend import tf

NEG = -1.0e9  # "impossible" log-probability; finite so that sums never give NaN


def length_penalty_factor(length, alpha):
    """GNMT length normalization `((5 + length) / 6) ** alpha` (1 when alpha is 0)."""
    return tf.pow((5.0 + tf.cast(length, tf.float32)) / 6.0, alpha)


def beam_search(next_logits, prompt, cache, index, mask, end_id, num_beams, length_penalty=0.0):
    """The best-scoring sequence per row under `log p(tokens) / length_penalty_factor`.

    Same protocol as keras-nlp's samplers: `next_logits(prompt, cache, index)` returns the
    logits (B·K, V) of the token at `index` given the tokens before it, and the updated cache.
    Positions where `mask` is True are kept (the prompt); their tokens add nothing to scores.

    Args:
        next_logits: the step function (see above); called on `num_beams` rows per input row.
        prompt: (B, L) int32 buffer, the prompt first.
        cache: a nest of tensors with batch dimension B (repeated per beam here), or ().
        index: first position to generate (an int or int32 scalar).
        mask: (B, L) bool, True for prompt positions.
        end_id: the end token id; a hypothesis that emits it is finished.
        num_beams: K, hypotheses kept per row.
        length_penalty: alpha ≥ 0 of `length_penalty_factor`; 0 ranks by total log-probability,
            larger values favour longer hypotheses.

    Returns:
        (sequences (B, L) int32, scores (B,) float32): the best hypothesis per row (tokens after
        its end token are those of `prompt`) and its normalized log-probability. Hypotheses
        that reach L tokens without an end token compete as they are (truncated).
    """
    if length_penalty < 0:
        raise ValueError(f"length_penalty must be ≥ 0, got {length_penalty}")
    k = num_beams
    batch_size, length = tf.shape(prompt)[0], tf.shape(prompt)[1]
    positions = tf.range(length)[None, None, :]  # (1, 1, L)

    def flat(x):  # (B, K, ...) → (B·K, ...)
        return tf.reshape(x, tf.concat([[batch_size * k], tf.shape(x)[2:]], 0))

    def beams(x):  # (B, K·?) → (B, K, ...)
        return tf.reshape(x, tf.concat([[batch_size, k], tf.shape(x)[1:]], 0))

    def repeat(x):
        return tf.repeat(x, k, axis=0)

    alive_seq = repeat(prompt)  # (B·K, L)
    beam_mask = repeat(mask)  # (B·K, L)
    cache = tf.nest.map_structure(repeat, cache)
    # Only the first beam is alive at the start: the others would duplicate it.
    alive_logp = tf.tile(tf.concat([[0.0], tf.fill([k - 1], NEG)], 0)[None], [batch_size, 1])
    finished_seq = beams(alive_seq)  # (B, K, L), placeholders until scored
    finished_score = tf.fill([batch_size, k], NEG)
    max_factor = length_penalty_factor(length - 1, length_penalty)

    def step(i, *state):
        new_state = search_step(i, *state)
        # Reshapes lose static dimensions the loop needs to stay constant.
        return (
            i + 1,
            *tf.nest.map_structure(
                lambda new, old: tf.ensure_shape(new, old.shape), new_state, state
            ),
        )

    def search_step(i, alive_seq, alive_logp, finished_seq, finished_score, cache):
        logits, cache = next_logits(alive_seq, cache, i)  # (B·K, V)
        logp = tf.nn.log_softmax(tf.cast(logits, tf.float32))
        vocabulary_size = tf.shape(logp)[-1]
        forced = tf.gather(beam_mask, i, axis=1)  # (B·K,)
        forced_logp = tf.where(
            tf.one_hot(tf.gather(alive_seq, i, axis=1), vocabulary_size) > 0, 0.0, NEG
        )
        logp = tf.where(forced[:, None], forced_logp, logp)
        total = alive_logp[:, :, None] + beams(logp)  # (B, K, V)
        total = tf.reshape(total, [batch_size, -1])
        candidate_logp, candidate = tf.math.top_k(total, 2 * k)  # (B, 2K)
        source_beam = candidate // vocabulary_size
        token = candidate % vocabulary_size
        candidate_seq = tf.gather(beams(alive_seq), source_beam, batch_dims=1)  # (B, 2K, L)
        candidate_seq = tf.where(positions == i, token[:, :, None], candidate_seq)
        ended = tf.logical_and(
            tf.equal(token, end_id),
            tf.logical_not(tf.gather(beams(forced), source_beam, batch_dims=1)),
        )
        # A hypothesis that fills the buffer is finished too (truncated), not discarded.
        complete = tf.logical_or(ended, i == length - 1)

        # At most one candidate per beam ends, so K of the 2K always stay alive.
        alive_logp, keep = tf.math.top_k(tf.where(ended, NEG, candidate_logp), k)
        alive_seq = flat(tf.gather(candidate_seq, keep, batch_dims=1))
        rows = tf.gather(source_beam, keep, batch_dims=1)  # (B, K)
        rows += tf.range(batch_size)[:, None] * k
        cache = tf.nest.map_structure(lambda t: tf.gather(t, tf.reshape(rows, [-1])), cache)

        score = candidate_logp / length_penalty_factor(i, length_penalty)
        score = tf.where(complete, score, NEG)
        finished_score, best = tf.math.top_k(tf.concat([finished_score, score], 1), k)
        pool = tf.concat([finished_seq, candidate_seq], axis=1)  # (B, 3K, L)
        finished_seq = tf.gather(pool, best, batch_dims=1)
        return alive_seq, alive_logp, finished_seq, finished_score, cache

    def searching(i, alive_seq, alive_logp, finished_seq, finished_score, cache):
        # The best an alive hypothesis can still reach: its log-probability only falls and
        # the penalty factor only grows with length.
        can_improve = alive_logp[:, 0] / max_factor > finished_score[:, k - 1]
        return tf.logical_and(i < length, tf.reduce_any(can_improve))

    _, _, _, finished_seq, finished_score, _ = tf.while_loop(
        searching,
        step,
        (tf.cast(index, tf.int32), alive_seq, alive_logp, finished_seq, finished_score, cache),
    )
    return finished_seq[:, 0], finished_score[:, 0]
