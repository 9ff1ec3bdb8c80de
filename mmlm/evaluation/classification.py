"""Classification metrics from predicted and true labels (NumPy)."""

import numpy as np


def confusion_matrix(labels, predictions, num_classes):
    """(num_classes, num_classes) counts; row = true class, column = predicted class."""
    labels, predictions = _check(labels, predictions, num_classes)
    matrix = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(matrix, (labels, predictions), 1)
    return matrix


def classification_report(labels, predictions, num_classes, class_names=None):
    """Accuracy, macro precision/recall/F1 and per-class precision/recall/F1/support.

    A class never predicted has precision 0, one never present recall 0 (scikit-learn's
    `zero_division=0`); macro averages are over all `num_classes` classes.
    """
    matrix = confusion_matrix(labels, predictions, num_classes)
    true_positives = np.diag(matrix).astype(np.float64)
    predicted = matrix.sum(axis=0)
    support = matrix.sum(axis=1)
    precision = np.divide(true_positives, predicted, out=np.zeros(num_classes), where=predicted > 0)
    recall = np.divide(true_positives, support, out=np.zeros(num_classes), where=support > 0)
    denominator = precision + recall
    f1 = np.divide(
        2 * precision * recall, denominator, out=np.zeros(num_classes), where=denominator > 0
    )
    names = class_names or [str(c) for c in range(num_classes)]
    return {
        "accuracy": float(true_positives.sum() / matrix.sum()),
        "macro_precision": float(precision.mean()),
        "macro_recall": float(recall.mean()),
        "macro_f1": float(f1.mean()),
        "num_examples": int(matrix.sum()),
        "per_class": {
            name: {
                "precision": float(p),
                "recall": float(r),
                "f1": float(f),
                "support": int(s),
            }
            for name, p, r, f, s in zip(names, precision, recall, f1, support)
        },
        "confusion_matrix": matrix.tolist(),
    }


def _check(labels, predictions, num_classes):
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    if labels.shape != predictions.shape or labels.ndim != 1:
        raise ValueError(
            f"labels {labels.shape} and predictions {predictions.shape} must be equal 1-D shapes"
        )
    for name, values in (("labels", labels), ("predictions", predictions)):
        if values.size and (values.min() < 0 or values.max() >= num_classes):
            raise ValueError(
                f"{name} must be in [0, {num_classes}), got {values.min()}..{values.max()}"
            )
    return labels.astype(np.int64), predictions.astype(np.int64)
