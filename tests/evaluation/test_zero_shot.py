"""Zero-shot classification on constructed embeddings, and prompt ensembling."""

import numpy as np
import pytest

from mmlm.evaluation.zero_shot import class_embeddings_from_prompts, zero_shot_classify


def test_constructed_case_with_a_tie():
    classes = np.eye(3)
    embeddings = np.array(
        [
            [1.0, 0.0, 0.0],  # class 0, right
            [0.0, 1.0, 0.0],  # class 1, right
            [0.8, 0.6, 0.0],  # class 1, but closer to class 0
            [0.5**0.5, 0.0, 0.5**0.5],  # class 2, tied with class 0: counted wrong
            [0.0, 0.0, 1.0],  # class 2, right
        ]
    )
    labels = np.array([0, 1, 1, 2, 2])
    result = zero_shot_classify(embeddings, classes, labels)
    assert result == {
        "accuracy": 0.6,
        "chance": 1 / 3,
        "num_examples": 5,
        "per_class_accuracy": {0: 1.0, 1: 0.5, 2: 0.5},
    }
    valid = np.array([True, True, False, True, True])
    result = zero_shot_classify(embeddings, classes, labels, valid=valid)
    assert result["accuracy"] == 0.75
    assert result["num_examples"] == 4
    assert result["per_class_accuracy"] == {0: 1.0, 1: 1.0, 2: 0.5}


def test_matches_argmax_without_ties():
    rng = np.random.default_rng(0)
    embeddings = rng.standard_normal((200, 16))
    classes = rng.standard_normal((7, 16))
    labels = rng.integers(0, 7, size=200)
    expected = np.mean(np.argmax(embeddings @ classes.T, axis=1) == labels)
    result = zero_shot_classify(embeddings, classes, labels)
    assert result["accuracy"] == pytest.approx(expected)
    assert set(result["per_class_accuracy"]) == set(np.unique(labels).tolist())


def test_class_embeddings_are_normalized_prompt_means():
    prompts = np.array([[[1.0, 0.0], [0.0, 1.0]], [[2.0, 0.0], [4.0, 0.0]]])  # (C=2, P=2, D=2)
    np.testing.assert_allclose(
        class_embeddings_from_prompts(prompts), [[0.5**0.5, 0.5**0.5], [1.0, 0.0]]
    )
    with pytest.raises(ValueError, match="zero"):
        class_embeddings_from_prompts(np.array([[[1.0, 0.0], [-1.0, 0.0]]]))


def test_invalid_inputs_raise():
    with pytest.raises(ValueError, match="labels"):
        zero_shot_classify(np.eye(2), np.eye(2), np.array([0, 2]))
    with pytest.raises(ValueError, match="No valid"):
        zero_shot_classify(np.eye(2), np.eye(2), np.array([0, 1]), valid=[False, False])
