"""Duplicate-aware ranks and the strict R@1 ceiling, against plain-loop references."""

import numpy as np
import pytest

from mmlm.evaluation.duplicate_captions import (
    caption_groups,
    duplicate_aware_ranks,
    has_duplicates,
    strict_recall_ceiling,
    unique_caption_fraction,
)
from mmlm.evaluation.retrieval import retrieval_report


def _loop_ranks(similarity, captions):
    """The simple reference: candidates of another caption scoring >= the best same-caption
    candidate (an empty caption matches only its own example)."""
    ranks = []
    for q, caption in enumerate(captions):
        same = [c for c in range(len(captions)) if c == q or (caption and captions[c] == caption)]
        best = max(similarity[q][c] for c in same)
        ranks.append(sum(1 for c, s in enumerate(similarity[q]) if c not in same and s >= best))
    return np.array(ranks)


def _loop_ceiling(captions):
    sizes = [
        sum(1 for other in captions if caption and other == caption) or 1 for caption in captions
    ]
    return np.mean([1.0 / size for size in sizes])


def test_groups_keep_empty_captions_apart():
    groups = caption_groups(["a dog", "", "a cat", "a dog", "", b"a cat"])
    assert groups[0] == groups[3] and groups[2] == groups[5]
    assert len({groups[0], groups[1], groups[2], groups[4]}) == 4
    assert has_duplicates(groups)
    assert not has_duplicates(caption_groups(["x", "", ""]))


def test_ranks_and_ceiling_match_plain_loops_with_many_ties():
    rng = np.random.default_rng(0)
    captions = [rng.choice(["a", "b", "c", "d", ""]) for _ in range(40)]
    similarity = rng.integers(0, 4, size=(40, 40)).astype(np.float64)  # ties everywhere
    groups = caption_groups(captions)
    np.testing.assert_array_equal(
        duplicate_aware_ranks(similarity, groups), _loop_ranks(similarity, captions)
    )
    assert strict_recall_ceiling(groups) == pytest.approx(_loop_ceiling(captions))
    unique = np.mean([captions.count(c) == 1 or c == "" for c in captions])
    assert unique_caption_fraction(groups) == pytest.approx(unique)


def test_a_model_blind_to_same_caption_pairs():
    """Each example embedded as its caption: strict ranks tie within a group, duplicate-aware
    ranks are all first, and the ceiling is the mean of 1 / group size."""
    captions = ["red", "red", "red", "blue", "green", "green"]
    groups = caption_groups(captions)
    embeddings = np.eye(3)[groups]
    similarity = embeddings @ embeddings.T
    np.testing.assert_array_equal(duplicate_aware_ranks(similarity, groups), np.zeros(6))
    assert strict_recall_ceiling(groups) == pytest.approx((3 * 1 / 3 + 1 + 2 * 1 / 2) / 6)
    assert unique_caption_fraction(groups) == pytest.approx(1 / 6)
    report = retrieval_report({"text": embeddings, "image": embeddings}, captions=captions)
    result = report["text_to_image"]
    assert result["R@1"] == pytest.approx(1 / 6)  # only "blue" is alone in its group
    assert result["duplicate_aware"]["R@1"] == 1.0
    assert result["num_distinct_captions"] == 3
    assert result["strict_R@1_ceiling"] == pytest.approx(0.5)


def _sorted_ranks(similarity, correct):
    """Independent reference: sort each row by score (descending), correct candidates after
    the others they tie with; a query's rank is the position of its first correct candidate."""
    ranks = []
    for row, hits in zip(similarity, correct):
        order = np.lexsort((hits, -row))  # primary key: -score; ties: wrong ones first
        ranks.append(int(np.flatnonzero(hits[order])[0]))
    return np.array(ranks)


def _recalls(ranks, ks=(1, 5, 10)):
    return {f"R@{k}": float(np.mean(ranks < k)) for k in ks}


@pytest.mark.parametrize("repeat", [True, False])
def test_strict_and_duplicate_aware_recall_match_a_sorting_reference(repeat):
    """Strict R@K asks for the paired example, duplicate-aware R@K for any example with the
    same caption; with unique captions both are the same and the strict ceiling is 1.0."""
    rng = np.random.default_rng(2)
    n = 60
    captions = [f"caption {rng.integers(25) if repeat else i}" for i in range(n)]
    text, image = np.round(rng.standard_normal((2, n, 8)), 1)  # rounded: some exact ties
    report = retrieval_report({"text": text, "image": image}, captions=captions)["text_to_image"]
    similarity = text @ image.T
    strict = _sorted_ranks(similarity, np.eye(n, dtype=bool))
    same_caption = np.array(captions)[:, None] == np.array(captions)[None, :]
    aware = _sorted_ranks(similarity, same_caption)
    for key, value in _recalls(strict).items():
        assert report[key] == pytest.approx(value)
    for key, value in _recalls(aware).items():
        assert report["duplicate_aware"][key] == pytest.approx(value)
    sizes = same_caption.sum(axis=1)
    assert report["strict_R@1_ceiling"] == pytest.approx(np.mean(1.0 / sizes))
    assert report["unique_caption_fraction"] == pytest.approx(np.mean(sizes == 1))
    assert report["num_distinct_captions"] == len(set(captions))
    if not repeat:
        assert report["strict_R@1_ceiling"] == 1.0 and report["unique_caption_fraction"] == 1.0
        assert {k: report[k] for k in ("R@1", "R@5", "R@10")} == {
            k: report["duplicate_aware"][k] for k in ("R@1", "R@5", "R@10")
        }
    else:
        assert report["duplicate_aware"]["R@1"] > report["R@1"]  # the repeats are found
    without_captions = retrieval_report({"text": text, "image": image})["text_to_image"]
    assert "num_distinct_captions" not in without_captions
    assert "duplicate_aware" not in without_captions


def test_invalid_inputs_raise():
    with pytest.raises(ValueError, match="square"):
        duplicate_aware_ranks(np.zeros((2, 3)), np.arange(2))
    with pytest.raises(ValueError, match="groups"):
        duplicate_aware_ranks(np.zeros((2, 2)), np.arange(3))
    with pytest.raises(ValueError, match="NaN"):
        duplicate_aware_ranks(np.array([[np.nan, 0.0], [0.0, 1.0]]), np.arange(2))
