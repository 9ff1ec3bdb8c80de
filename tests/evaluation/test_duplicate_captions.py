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


def test_duplicate_metrics_only_when_captions_repeat():
    rng = np.random.default_rng(1)
    text, image = rng.standard_normal((2, 5, 4))
    report = retrieval_report({"text": text, "image": image}, captions=list("abcde"))
    assert report["text_to_image"]["num_distinct_captions"] == 5
    assert "duplicate_aware" not in report["text_to_image"]
    assert "strict_R@1_ceiling" not in report["text_to_image"]
    without_captions = retrieval_report({"text": text, "image": image})["text_to_image"]
    assert "num_distinct_captions" not in without_captions


def test_invalid_inputs_raise():
    with pytest.raises(ValueError, match="square"):
        duplicate_aware_ranks(np.zeros((2, 3)), np.arange(2))
    with pytest.raises(ValueError, match="groups"):
        duplicate_aware_ranks(np.zeros((2, 2)), np.arange(3))
    with pytest.raises(ValueError, match="NaN"):
        duplicate_aware_ranks(np.array([[np.nan, 0.0], [0.0, 1.0]]), np.arange(2))
