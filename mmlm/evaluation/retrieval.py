"""Cross-modal retrieval: Recall@K and median rank from embeddings (NumPy, model-agnostic).

Ranks are pessimistic on ties: every other candidate scoring at least as high as the correct one
counts as ranked above it. A collapsed model (all embeddings equal) therefore scores R@K = 0, not
1, and duplicate candidates (two identical captions) cost recall instead of hiding behind the
argsort order.
"""

import math

import numpy as np

from mmlm.evaluation import duplicate_captions

# (query modality, candidate modality) in report order.
DIRECTIONS = (
    ("text", "image"),
    ("image", "text"),
    ("text", "audio"),
    ("audio", "text"),
    ("image", "audio"),
    ("audio", "image"),
)


def direction_name(query_modality, candidate_modality):
    """`"text_to_image"` for ("text", "image")."""
    return f"{query_modality}_to_{candidate_modality}"


def retrieval_ranks(similarity, targets=None):
    """0-based rank of each query's correct candidate, pessimistic on ties.

    Args:
        similarity: (Q, C) scores, higher = more similar.
        targets: (Q,) int column of each query's correct candidate (default `arange(Q)`).
    Returns:
        (Q,) int64: the number of other candidates whose score is >= the correct one's.
    Raises:
        ValueError: on a non-2-D or non-finite `similarity`, or targets of the wrong shape or
            outside [0, C).
    """
    similarity = np.asarray(similarity)
    if similarity.ndim != 2:
        raise ValueError(f"`similarity` must be (queries, candidates), got {similarity.shape}.")
    num_queries, num_candidates = similarity.shape
    if targets is None:
        targets = np.arange(num_queries)
    targets = np.asarray(targets)
    if targets.shape != (num_queries,) or targets.dtype.kind not in "iu":
        raise ValueError(
            f"`targets` must be {num_queries} integers, got {targets.dtype} {targets.shape}."
        )
    if num_queries and (targets.min() < 0 or targets.max() >= num_candidates):
        raise ValueError(f"`targets` must lie in [0, {num_candidates}).")
    if not np.all(np.isfinite(similarity)):
        raise ValueError("`similarity` contains NaN or infinite scores (diverged embeddings?).")
    correct = similarity[np.arange(num_queries), targets]  # (Q,)
    at_least_as_high = np.sum(similarity >= correct[:, None], axis=1)  # (Q,), includes itself
    return (at_least_as_high - 1).astype(np.int64)


def recall_at_k(similarity, ks=(1, 5, 10), targets=None):
    """Recall@K of a similarity matrix.

    Args:
        similarity: (Q, C) scores; query q's correct candidate is column `targets[q]`.
        ks: the K values.
        targets: (Q,) int, default `arange(Q)` (the diagonal).
    Returns:
        `{"R@1": float, "R@5": float, ..., "median_rank": float}`; R@K = fraction of queries whose
        rank (see `retrieval_ranks`) is < K; `median_rank` is 1-based (1 = always first).
    """
    _check_ks(ks)
    return recall_from_ranks(retrieval_ranks(similarity, targets), ks)


def recall_from_ranks(ranks, ks=(1, 5, 10)):
    """`{"R@K": share of ranks < K, ..., "median_rank": 1-based median}` of 0-based ranks."""
    ks = _check_ks(ks)
    ranks = np.asarray(ranks)
    if ranks.size == 0:
        raise ValueError("`similarity` has no queries.")
    metrics = {f"R@{k}": float(np.mean(ranks < k)) for k in ks}
    metrics["median_rank"] = float(np.median(ranks + 1))
    return metrics


def _check_ks(ks):
    ks = tuple(ks)
    if not ks or any(int(k) != k or k < 1 for k in ks):
        raise ValueError(f"`ks` must be positive integers, got {ks}.")
    return ks


def chance_recall(num_candidates, k):
    """Expected R@K of random embeddings: min(k, C) / C."""
    if num_candidates < 1:
        raise ValueError(f"`num_candidates` must be positive, got {num_candidates}.")
    return min(k, num_candidates) / num_candidates


def derangement(size, seed=0):
    """A permutation of range(size) without fixed points (one random cycle), size >= 2."""
    if size < 2:
        raise ValueError(f"A derangement needs at least 2 items, got {size}.")
    order = np.random.default_rng(seed).permutation(size)
    permutation = np.empty(size, np.int64)
    permutation[order] = np.roll(order, -1)  # each item points to the next one in `order`
    return permutation


def control_report(similarity, ks=(1, 5, 10), seed=0):
    """The control rows of a square retrieval: chance and shuffled pairs.

    `chance` is the expected R@K of random embeddings (`chance_recall`; median rank (C + 1) / 2).
    `shuffled` scores the same similarity with the candidates' pairing permuted by a derangement
    (no query keeps its own pair): what a model scores on unpaired data, near chance unless the
    evaluation itself leaks the pairing. Left out with fewer than 2 queries.

    Args:
        similarity: (N, N) scores, query q's pair in column q.
    """
    similarity = np.asarray(similarity)
    num_candidates = similarity.shape[1]
    chance = {f"R@{k}": chance_recall(num_candidates, k) for k in _check_ks(ks)}
    chance["median_rank"] = (num_candidates + 1) / 2
    report = {"chance": chance}
    if similarity.shape[0] >= 2:
        targets = derangement(similarity.shape[0], seed)
        report["shuffled"] = recall_at_k(similarity, ks, targets=targets)
    return report


def binomial_interval(num_trials, probability, confidence=0.999):
    """Central interval of the fraction of successes of Binomial(num_trials, probability).

    Exact (sums the probability mass function; no normal approximation, which fails for the
    small success counts of R@1 at chance).

    Returns:
        (low, high) fractions with P(low <= successes / num_trials <= high) >= `confidence`.
    """
    if num_trials < 1 or not 0.0 <= probability <= 1.0 or not 0.0 < confidence < 1.0:
        raise ValueError(
            f"Need num_trials >= 1, 0 <= probability <= 1 and 0 < confidence < 1; got "
            f"{num_trials}, {probability}, {confidence}."
        )
    tail = (1.0 - confidence) / 2.0
    cumulative, low, high = 0.0, None, num_trials
    for successes in range(num_trials + 1):
        cumulative += _binomial_pmf(successes, num_trials, probability)
        if low is None and cumulative > tail:
            low = successes
        if cumulative >= 1.0 - tail:
            high = successes
            break
    return low / num_trials, high / num_trials


def _binomial_pmf(successes, trials, probability):
    if probability in (0.0, 1.0):
        return float(successes == trials * probability)
    log_pmf = (
        math.lgamma(trials + 1)
        - math.lgamma(successes + 1)
        - math.lgamma(trials - successes + 1)
        + successes * math.log(probability)
        + (trials - successes) * math.log1p(-probability)
    )
    return math.exp(log_pmf)


def retrieval_report(embeddings, present=None, subsets=None, ks=(1, 5, 10), captions=None):
    """Recall@K for every direction of `DIRECTIONS` between the given modalities.

    For a direction, the candidates are all examples that have both modalities and the queries
    are those same examples; a subset (say "heldout") keeps only its queries but still ranks them
    against all candidates, so subset numbers are comparable with the overall ones.

    Args:
        embeddings: modality → (N, D) L2-normalized embeddings of the same N examples.
        present: modality → (N,) bool; a missing modality (or `present=None`) means all present.
        subsets: name → (N,) bool, e.g. `{"seen": ..., "heldout": ...}`.
        ks: the K values.
        captions: optional (N,) raw captions ("" = none): each direction then reports
            `num_distinct_captions`, `duplicate_aware` R@K (a candidate whose caption is the
            query example's counts as correct), `strict_R@1_ceiling` and
            `unique_caption_fraction` (see duplicate_captions.py); with unique captions the
            duplicate-aware R@K equal the strict ones and the ceiling is 1.0.
    Returns:
        `{"text_to_image": {"R@1", ..., "median_rank", "num_queries",
        "subsets": {name: {"R@1", ..., "num_queries"}}, "control": {"chance": {...},
        "shuffled": {...}}, ...}, ...}`. Directions (and subsets) without any query are left out.
    """
    embeddings = {name: np.asarray(value) for name, value in embeddings.items()}
    for name, value in embeddings.items():
        if value.ndim != 2:
            raise ValueError(f"`embeddings['{name}']` must be (N, D), got {value.shape}.")
    num_examples = _check_rows(embeddings, "embeddings", expected=None)
    present = _masks(present, embeddings, num_examples)
    subsets = {name: np.asarray(mask, dtype=bool) for name, mask in (subsets or {}).items()}
    _check_rows(subsets, "subsets", expected=num_examples)
    if captions is not None:
        captions = np.asarray(captions, dtype=object)
        _check_rows({"captions": captions}, "captions", expected=num_examples)

    report = {}
    for query, candidate in DIRECTIONS:
        if query not in embeddings or candidate not in embeddings:
            continue
        rows = np.flatnonzero(present[query] & present[candidate])  # candidates = queries
        if rows.size == 0:
            continue
        similarity = embeddings[query][rows] @ embeddings[candidate][rows].T  # (R, R)
        metrics = recall_at_k(similarity, ks)
        metrics["num_queries"] = int(rows.size)
        metrics["subsets"] = _subset_recalls(similarity, rows, subsets, ks)
        metrics["control"] = control_report(similarity, ks)
        if captions is not None:
            metrics.update(_duplicate_metrics(similarity, captions[rows], ks))
        report[direction_name(query, candidate)] = metrics
    return report


def _subset_recalls(similarity, rows, subsets, ks):
    recalls = {}
    for name, mask in subsets.items():
        selected = np.flatnonzero(mask[rows])  # positions within `rows`
        if selected.size:
            recalls[name] = recall_at_k(similarity[selected], ks, targets=selected)
            recalls[name]["num_queries"] = int(selected.size)
    return recalls


def _duplicate_metrics(similarity, captions, ks):
    """`num_distinct_captions`, the duplicate-aware R@K, the strict R@1 ceiling and the unique
    caption fraction. With every caption unique the duplicate-aware numbers equal the strict
    ones and the ceiling is 1.0: reported all the same, as the check that they do."""
    groups = duplicate_captions.caption_groups(captions)
    ranks = duplicate_captions.duplicate_aware_ranks(similarity, groups)
    return {
        "num_distinct_captions": duplicate_captions.num_distinct_captions(captions),
        "duplicate_aware": recall_from_ranks(ranks, ks),
        "strict_R@1_ceiling": duplicate_captions.strict_recall_ceiling(groups),
        "unique_caption_fraction": duplicate_captions.unique_caption_fraction(groups),
    }


def _check_rows(arrays, argument, expected):
    """Checks that all arrays have the same number of rows; returns it."""
    for name, array in arrays.items():
        rows = array.shape[0] if array.ndim else None
        expected = rows if expected is None else expected
        if rows != expected:
            raise ValueError(
                f"`{argument}['{name}']` has shape {array.shape}; expected {expected} rows."
            )
    return expected


def _masks(present, embeddings, num_examples):
    present = dict(present or {})
    masks = {}
    for modality in embeddings:
        mask = present.get(modality)
        masks[modality] = (
            np.ones(num_examples, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
        )
    _check_rows(masks, "present", expected=num_examples)
    return masks
