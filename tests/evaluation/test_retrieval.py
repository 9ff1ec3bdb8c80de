"""Recall@K and the retrieval report, against hand-computed cases and a plain-loop reference."""

import numpy as np
import pytest

from mmlm.evaluation.retrieval import (
    DIRECTIONS,
    binomial_interval,
    chance_recall,
    control_report,
    derangement,
    recall_at_k,
    recall_from_ranks,
    retrieval_ranks,
    retrieval_report,
)


def _unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _loop_ranks(similarity, targets):
    """The simple reference: count other candidates scoring at least the correct one."""
    ranks = []
    for q, target in enumerate(targets):
        correct = similarity[q][target]
        ranks.append(sum(1 for c, s in enumerate(similarity[q]) if c != target and s >= correct))
    return np.array(ranks)


def test_ties_are_pessimistic():
    similarity = np.array(
        [
            [0.9, 0.1, 0.9],  # tied with candidate 2 → rank 1
            [0.2, 0.5, 0.7],  # candidate 2 scores higher → rank 1
            [0.3, 0.3, 0.3],  # all tied → rank 2
        ]
    )
    np.testing.assert_array_equal(retrieval_ranks(similarity), [1, 1, 2])
    metrics = recall_at_k(similarity, ks=(1, 2, 3))
    assert metrics == {"R@1": 0.0, "R@2": 2 / 3, "R@3": 1.0, "median_rank": 2.0}


def test_collapsed_embeddings_score_zero():
    embeddings = np.tile(_unit(np.ones((1, 8))), (20, 1))  # every example identical
    metrics = recall_at_k(embeddings @ embeddings.T)
    assert metrics["R@1"] == metrics["R@5"] == metrics["R@10"] == 0.0
    assert metrics["median_rank"] == 20.0


def test_targets_select_the_correct_column():
    similarity = np.array([[0.1, 0.4, 0.2, 0.3], [0.5, 0.6, 0.0, 0.1]])
    np.testing.assert_array_equal(retrieval_ranks(similarity, targets=[3, 0]), [1, 1])
    assert recall_at_k(similarity, ks=(1, 2), targets=[1, 0]) == {
        "R@1": 0.5,
        "R@2": 1.0,
        "median_rank": 1.5,
    }


def test_ranks_match_plain_loop_with_many_ties():
    rng = np.random.default_rng(0)
    similarity = rng.integers(0, 4, size=(30, 40)).astype(np.float32)  # ties everywhere
    targets = rng.integers(0, 40, size=30)
    np.testing.assert_array_equal(
        retrieval_ranks(similarity, targets), _loop_ranks(similarity, targets)
    )


def test_invalid_inputs_raise():
    with pytest.raises(ValueError, match="NaN"):
        retrieval_ranks(np.array([[1.0, np.nan], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="targets"):
        retrieval_ranks(np.eye(3), targets=[0, 1, 3])
    with pytest.raises(ValueError, match="ks"):
        recall_at_k(np.eye(3), ks=(0,))


def test_chance_and_binomial_interval():
    assert chance_recall(100, 5) == 0.05
    assert chance_recall(3, 10) == 1.0
    # Binomial(10, 0.5): P(X <= 1) = 11/1024 < 0.05 < P(X <= 2) = 56/1024, and
    # P(X <= 7) = 968/1024 < 0.95 <= P(X <= 8) = 1013/1024.
    assert binomial_interval(10, 0.5, confidence=0.9) == (0.2, 0.8)
    assert binomial_interval(50, 0.0) == (0.0, 0.0)


def test_random_embeddings_score_at_chance():
    rng = np.random.default_rng(7)
    n = 500
    embeddings = {m: _unit(rng.standard_normal((n, 64))) for m in ("text", "image")}
    report = retrieval_report(embeddings)
    for direction in ("text_to_image", "image_to_text"):
        for k in (1, 5, 10):
            low, high = binomial_interval(n, chance_recall(n, k), confidence=0.999)
            assert low <= report[direction][f"R@{k}"] <= high, (direction, k)


def test_perfect_embeddings_score_one_everywhere():
    rng = np.random.default_rng(1)
    shared = _unit(rng.standard_normal((50, 16)))
    embeddings = {m: shared for m in ("text", "image", "audio")}
    heldout = np.arange(50) % 3 == 0
    report = retrieval_report(embeddings, subsets={"seen": ~heldout, "heldout": heldout})
    assert list(report) == [f"{q}_to_{c}" for q, c in DIRECTIONS]
    for result in report.values():
        assert result["num_queries"] == 50
        for values in (result, *result["subsets"].values()):
            assert values["R@1"] == values["R@5"] == values["R@10"] == 1.0
        assert result["subsets"]["heldout"]["num_queries"] == heldout.sum()


def test_subsets_and_missing_rows_by_hand():
    eye = np.eye(4)
    text = eye
    image = eye[[0, 1, 3, 2]]  # examples 2 and 3 have their images swapped
    audio = eye
    present = {"audio": np.array([True, False, True, True])}
    seen = np.array([True, True, False, False])
    report = retrieval_report(
        {"text": text, "image": image, "audio": audio},
        present,
        subsets={"seen": seen, "heldout": ~seen},
        ks=(1, 3),
    )
    # text → image: queries 0, 1 are first; 2 and 3 score 0 against their image, tied with
    # all three others → rank 3.
    assert report["text_to_image"]["R@1"] == 0.5
    assert report["text_to_image"]["R@3"] == 0.5
    assert report["text_to_image"]["subsets"]["seen"] == {
        "R@1": 1.0,
        "R@3": 1.0,
        "median_rank": 1.0,
        "num_queries": 2,
    }
    assert report["text_to_image"]["subsets"]["heldout"]["R@1"] == 0.0
    # text → audio: example 1 has no audio, so 3 queries among 3 candidates, all first.
    assert report["text_to_audio"]["num_queries"] == 3
    assert report["text_to_audio"]["R@1"] == 1.0
    # image → audio over examples 0, 2, 3: image 2 (= e3) misses audio 2 (= e2), which ties
    # with audio 0 at 0 and loses to audio 3 → rank 2; likewise image 3.
    image_to_audio = report["image_to_audio"]
    assert image_to_audio["num_queries"] == 3
    assert image_to_audio["R@1"] == pytest.approx(1 / 3)
    assert image_to_audio["R@3"] == 1.0
    assert image_to_audio["subsets"]["seen"]["num_queries"] == 1  # example 1 has no audio
    assert image_to_audio["subsets"]["heldout"]["R@1"] == 0.0


def test_subset_queries_are_ranked_against_all_candidates():
    rng = np.random.default_rng(3)
    text, image = _unit(rng.standard_normal((2, 12, 8)))
    present = {"image": np.arange(12) != 5}
    subset = np.arange(12) % 2 == 1
    report = retrieval_report({"text": text, "image": image}, present, {"odd": subset})
    rows = np.flatnonzero(present["image"])
    similarity = text[rows] @ image[rows].T
    queries = np.flatnonzero(subset[rows])
    expected = recall_at_k(similarity[queries], targets=queries)
    assert report["text_to_image"]["subsets"]["odd"] == {**expected, "num_queries": 5}


def test_directions_without_rows_or_modality_are_omitted():
    rng = np.random.default_rng(4)
    text, image, audio = _unit(rng.standard_normal((3, 6, 4)))
    report = retrieval_report(
        {"text": text, "image": image, "audio": audio}, {"audio": np.zeros(6, bool)}
    )
    assert list(report) == ["text_to_image", "image_to_text"]
    assert list(retrieval_report({"audio": audio, "text": text})) == [
        "text_to_audio",
        "audio_to_text",
    ]
    with pytest.raises(ValueError, match="rows"):
        retrieval_report({"text": text, "image": image[:5]})


def test_derangement_keeps_no_pair():
    for size in (2, 3, 17, 500):
        permutation = derangement(size, seed=size)
        assert sorted(permutation) == list(range(size))
        assert not np.any(permutation == np.arange(size))
    np.testing.assert_array_equal(derangement(50, seed=3), derangement(50, seed=3))
    with pytest.raises(ValueError, match="at least 2"):
        derangement(1)


def test_control_rows_chance_and_shuffled():
    rng = np.random.default_rng(5)
    n = 400
    shared = _unit(rng.standard_normal((n, 32)))
    noisy = _unit(shared + 0.05 * rng.standard_normal((n, 32)))
    report = retrieval_report({"text": shared, "image": noisy})["text_to_image"]
    assert report["R@1"] > 0.9  # a good model...
    control = report["control"]
    for k in (1, 5, 10):
        assert control["chance"][f"R@{k}"] == chance_recall(n, k)
        # ...scores near chance on shuffled pairs.
        low, high = binomial_interval(n, chance_recall(n, k), confidence=0.999)
        assert low <= control["shuffled"][f"R@{k}"] <= high, k
    assert control["chance"]["median_rank"] == (n + 1) / 2
    similarity = shared @ noisy.T
    expected = recall_at_k(similarity, targets=derangement(n, seed=0))
    assert control["shuffled"] == expected
    assert set(control_report(np.ones((1, 1)))) == {"chance"}  # no derangement of one pair


def test_recall_from_ranks():
    assert recall_from_ranks([0, 1, 4, 9], ks=(1, 5)) == {
        "R@1": 0.25,
        "R@5": 0.75,
        "median_rank": 3.5,
    }
