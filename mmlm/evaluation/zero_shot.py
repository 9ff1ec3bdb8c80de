"""Zero-shot classification by nearest class embedding (NumPy, model-agnostic).

A class is embedded by averaging the text embeddings of its prompts ("a photo of a {}.", ...)
and re-normalizing (CLIP's prompt ensembling). Like retrieval, scoring is pessimistic on ties:
an example counts as correct only if its class scores strictly above every other class, so a
collapsed model scores 0 instead of the frequency of class 0.
"""

import numpy as np


def class_embeddings_from_prompts(prompt_embeddings):
    """(C, P, D) prompt embeddings → (C, D) L2-normalized mean per class."""
    prompt_embeddings = np.asarray(prompt_embeddings, dtype=np.float64)
    if prompt_embeddings.ndim != 3:
        raise ValueError(
            f"`prompt_embeddings` must be (classes, prompts, dim), got {prompt_embeddings.shape}."
        )
    mean = prompt_embeddings.mean(axis=1)  # (C, D)
    norms = np.linalg.norm(mean, axis=-1, keepdims=True)  # (C, 1)
    if np.any(norms == 0.0):
        raise ValueError("A class's prompt embeddings average to zero; it has no direction.")
    return mean / norms


def zero_shot_classify(embeddings, class_embeddings, labels, valid=None):
    """Accuracy of assigning each example to its most similar class embedding.

    Args:
        embeddings: (N, D) L2-normalized example embeddings (images or audio).
        class_embeddings: (C, D) L2-normalized class embeddings (see
            `class_embeddings_from_prompts`).
        labels: (N,) int class index of each example.
        valid: optional (N,) bool; only these examples are scored (e.g. those with an image).
    Returns:
        `{"accuracy": float, "chance": 1 / C, "num_examples": int,
        "per_class_accuracy": {class index: float}}`; `per_class_accuracy` lists the classes
        that have at least one scored example.
    """
    embeddings = np.asarray(embeddings)
    class_embeddings = np.asarray(class_embeddings)
    labels = np.asarray(labels)
    num_classes = class_embeddings.shape[0]
    if embeddings.ndim != 2 or class_embeddings.ndim != 2:
        raise ValueError(
            f"`embeddings` (N, D) and `class_embeddings` (C, D) must be 2-D, got "
            f"{embeddings.shape} and {class_embeddings.shape}."
        )
    if labels.shape != embeddings.shape[:1] or labels.dtype.kind not in "iu":
        raise ValueError(f"`labels` must be {embeddings.shape[0]} integers, got {labels.shape}.")
    valid = np.ones(labels.shape, bool) if valid is None else np.asarray(valid, dtype=bool)
    if valid.shape != labels.shape:
        raise ValueError(f"`valid` must have shape {labels.shape}, got {valid.shape}.")
    embeddings, labels = embeddings[valid], labels[valid]
    if labels.size == 0:
        raise ValueError("No valid examples to classify.")
    if labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(f"`labels` must lie in [0, {num_classes}).")

    scores = embeddings @ class_embeddings.T  # (N, C)
    if not np.all(np.isfinite(scores)):
        raise ValueError("Zero-shot scores contain NaN or infinite values (diverged embeddings?).")
    true_scores = scores[np.arange(labels.size), labels]  # (N,)
    correct = np.sum(scores >= true_scores[:, None], axis=1) == 1  # only the true class ties
    return {
        "accuracy": float(np.mean(correct)),
        "chance": 1.0 / num_classes,
        "num_examples": int(labels.size),
        "per_class_accuracy": {
            int(c): float(np.mean(correct[labels == c])) for c in np.unique(labels)
        },
    }
