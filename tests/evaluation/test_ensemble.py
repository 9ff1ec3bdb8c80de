"""Combining members: mean logits, mean cosine embeddings, the stacker against scikit-learn."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from mmlm.evaluation import ensemble


def _members(rng, members=3, rows=6, dim=5):
    return [rng.normal(size=(rows, dim)) for _ in range(members)]


def test_similarity_embeddings_give_the_members_mean_cosine():
    rng = np.random.default_rng(0)
    queries, candidates = _members(rng), _members(rng)
    combined = (
        ensemble.similarity_embeddings(queries) @ ensemble.similarity_embeddings(candidates).T
    )
    expected = np.zeros((6, 6))
    for q, c in zip(queries, candidates):  # cosine by a loop, member by member
        for i in range(6):
            for j in range(6):
                expected[i, j] += q[i] @ c[j] / np.linalg.norm(q[i]) / np.linalg.norm(c[j]) / 3
    np.testing.assert_allclose(combined, expected, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(ensemble.similarity_embeddings(queries), axis=1), 1)


def test_mean_embeddings_and_logits():
    rng = np.random.default_rng(1)
    members = _members(rng)
    mean = sum(m / np.linalg.norm(m, axis=1, keepdims=True) for m in members) / 3
    np.testing.assert_allclose(
        ensemble.mean_embeddings(members), mean / np.linalg.norm(mean, axis=1, keepdims=True)
    )
    np.testing.assert_allclose(ensemble.average_logits(members), sum(members) / 3)
    with pytest.raises(ValueError, match="differ in shape"):
        ensemble.average_logits([np.zeros((2, 3)), np.zeros((2, 4))])


@pytest.mark.parametrize("num_classes", [2, 4])
def test_stacker_is_scikit_learns_logistic_regression(num_classes):
    rng = np.random.default_rng(num_classes)
    labels = np.arange(60) % num_classes
    members = [rng.normal(size=(60, num_classes)) + 2 * np.eye(num_classes)[labels]
               for _ in range(3)]  # fmt: skip
    stacker = ensemble.Stacker(num_classes).fit(members, labels)
    features = np.concatenate([ensemble.softmax(m) for m in members], axis=1)
    reference = LogisticRegression(max_iter=2000).fit(features, labels)
    np.testing.assert_allclose(
        stacker.probabilities(members), reference.predict_proba(features), atol=1e-6
    )


def test_stacker_needs_every_class():
    with pytest.raises(ValueError, match=r"lack classes \[2\] of 3"):
        ensemble.Stacker(3).fit([np.zeros((4, 3))], [0, 1, 0, 1])
