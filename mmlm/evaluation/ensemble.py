"""Combining the outputs of ensemble members (NumPy): logits, embeddings, a stacker.

Members trained apart (other seeds, other bootstrap resamples) have unaligned embedding
spaces: coordinate i of one member means nothing to another, so averaging their vectors mixes
unrelated features. `similarity_embeddings` averages what is comparable instead, the cosine
similarities: the concatenation of the members' unit embeddings over sqrt(M) is a unit vector
whose dot products are the mean of the members' cosines. `mean_embeddings` (the naive
average) is kept as a control.
"""

import numpy as np


def _stack(arrays, name):
    if not arrays:
        raise ValueError(f"no members' {name}")
    shapes = {np.shape(a) for a in arrays}
    if len(shapes) != 1:
        raise ValueError(f"members' {name} differ in shape: {sorted(shapes)}")
    return np.stack([np.asarray(a, np.float64) for a in arrays])  # (M, N, ...)


def normalize(x, axis=-1):
    """Unit rows (a zero row stays zero)."""
    norm = np.linalg.norm(x, axis=axis, keepdims=True)
    return x / np.maximum(norm, 1e-12)


def average_logits(member_logits):
    """(N, C) mean of the members' (N, C) logits (the normalized geometric mean of their
    probabilities after a softmax)."""
    return _stack(member_logits, "logits").mean(axis=0)


def softmax(logits):
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def similarity_embeddings(member_embeddings):
    """(N, M·D) unit embeddings whose dot products are the members' mean cosine similarity."""
    stacked = normalize(_stack(member_embeddings, "embeddings"))  # (M, N, D)
    members = stacked.shape[0]
    return np.concatenate(list(stacked), axis=-1) / np.sqrt(members)


def mean_embeddings(member_embeddings):
    """(N, D) the normalized mean of the members' unit embeddings (control: see above)."""
    return normalize(normalize(_stack(member_embeddings, "embeddings")).mean(axis=0))


class Stacker:
    """Logistic regression (scikit-learn) on the members' concatenated class probabilities.

    Fitted on data the members did not train on (the validation split); its prediction is
    `softmax(features @ weights + bias)`, which the ensemble SavedModel computes in the graph.

    Args:
        num_classes: classes of the task (every one must occur in the fitting labels).
        regularization: the inverse regularization strength `C` of scikit-learn.
    """

    def __init__(self, num_classes, regularization=1.0):
        self.num_classes = num_classes
        self.regularization = regularization
        self.weights = None  # (M·C, C)
        self.bias = None  # (C,)

    @staticmethod
    def features(member_logits):
        """(N, M·C) the members' softmax probabilities side by side."""
        stacked = _stack(member_logits, "logits")  # (M, N, C)
        return np.concatenate([softmax(x) for x in stacked], axis=-1)

    def fit(self, member_logits, labels):
        from sklearn.linear_model import LogisticRegression

        labels = np.asarray(labels)
        missing = sorted(set(range(self.num_classes)) - set(labels.tolist()))
        if missing:
            raise ValueError(
                f"the stacker's fitting labels lack classes {missing} of {self.num_classes}: "
                "it cannot score them (use a larger validation split)"
            )
        model = LogisticRegression(C=self.regularization, max_iter=2000)
        model.fit(self.features(member_logits), labels)
        coefficients, intercept = model.coef_, model.intercept_
        if self.num_classes == 2:  # scikit-learn keeps one row for two classes
            coefficients = np.concatenate([np.zeros_like(coefficients), coefficients])
            intercept = np.concatenate([np.zeros_like(intercept), intercept])
        self.weights, self.bias = coefficients.T, intercept
        self.model = model
        return self

    def probabilities(self, member_logits):
        if self.weights is None:
            raise ValueError("the stacker is not fitted")
        return softmax(self.features(member_logits) @ self.weights + self.bias)
