"""Retrieval when captions repeat: duplicate-aware ranks and the ceiling of strict R@1 (NumPy).

When two examples share a caption, strict retrieval (retrieval.py) still asks for the one
paired item, which no model can single out from a caption alone. Duplicate-aware ranks accept
any candidate whose example has the query example's caption, so both numbers together can be
read honestly.

A caption group is the set of examples with an identical (byte-for-byte) non-empty caption; an
example without a caption is a group of its own.
"""

import numpy as np


def caption_groups(captions):
    """(N,) int64 group id of each example: identical non-empty captions share an id.

    Args:
        captions: N strings (or bytes); "" marks an example without a caption.
    """
    captions = np.array(
        [c.decode("utf-8") if isinstance(c, bytes) else str(c) for c in captions], dtype=object
    )
    if captions.size == 0:
        return np.zeros((0,), np.int64)
    _, groups = np.unique(captions, return_inverse=True)
    groups = groups.astype(np.int64).reshape(-1)
    empty = captions == ""
    groups[empty] = groups.max() + 1 + np.arange(int(empty.sum()))  # each its own group
    return groups


def has_duplicates(groups):
    """Whether any caption group holds more than one example."""
    groups = np.asarray(groups)
    return bool(groups.size) and np.unique(groups).size < groups.size


def duplicate_aware_ranks(similarity, groups):
    """0-based rank of each query's best same-caption candidate, pessimistic on ties.

    Query q's correct candidates are every column c with `groups[c] == groups[q]` (its own
    pair included). Its rank is the number of candidates outside its group scoring at least as
    high as the best candidate inside it.

    Args:
        similarity: (N, N) scores of N queries against the same N examples as candidates
            (query q's pair is column q).
        groups: (N,) caption group of each example (see `caption_groups`).
    Returns:
        (N,) int64 ranks.
    """
    similarity = np.asarray(similarity)
    groups = np.asarray(groups)
    if similarity.ndim != 2 or similarity.shape[0] != similarity.shape[1]:
        raise ValueError(f"`similarity` must be square (N, N), got {similarity.shape}.")
    if groups.shape != similarity.shape[:1]:
        raise ValueError(f"`groups` must have shape {similarity.shape[:1]}, got {groups.shape}.")
    if not np.all(np.isfinite(similarity)):
        raise ValueError("`similarity` contains NaN or infinite scores (diverged embeddings?).")
    same = groups[:, None] == groups[None, :]  # (N, N), the diagonal included
    best = np.where(same, similarity, -np.inf).max(axis=1)  # (N,)
    return np.sum((similarity >= best[:, None]) & ~same, axis=1).astype(np.int64)


def strict_recall_ceiling(groups):
    """Mean over queries of 1 / (size of the query's caption group).

    It is the expected strict R@1 of a model that embeds examples sharing a caption identically
    and breaks the resulting ties at random. For text queries it is a hard upper bound on strict
    R@1: identical captions give identical rankings, so at most one query of a group finds its
    own pair first.
    """
    groups = np.asarray(groups)
    if groups.size == 0:
        raise ValueError("`groups` is empty.")
    _, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
    return float(np.mean(1.0 / counts[inverse.reshape(-1)]))


def unique_caption_fraction(groups):
    """Share of examples whose caption no other example has.

    With text candidates, strict ranks count ties against the query (retrieval.py), and
    identical captions embed identically, so this is the most strict R@1 can reach there.
    """
    groups = np.asarray(groups)
    if groups.size == 0:
        raise ValueError("`groups` is empty.")
    _, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
    return float(np.mean(counts[inverse.reshape(-1)] == 1))


def num_distinct_captions(captions):
    """Number of distinct non-empty captions."""
    return len({c for c in captions if len(c)})


def caption_counts(captions):
    """`{"num_with_caption", "num_distinct"}` of raw captions ("" = none)."""
    return {
        "num_with_caption": sum(1 for c in captions if len(c)),
        "num_distinct": num_distinct_captions(captions),
    }
