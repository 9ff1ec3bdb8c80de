"""Zero-shot classification from a label column: classes, prompts and the report (NumPy).

The classes are the distinct labels of the evaluated examples (or the user's class names);
each is embedded by filling every prompt template with its name and averaging the text
embeddings (`class_embeddings_from_prompts`). Nothing is dropped silently: examples without a
label and examples whose label is not a listed class are counted and reported.
"""

import collections
import dataclasses

import numpy as np

from mmlm.evaluation.classification import classification_report
from mmlm.evaluation.zero_shot import zero_shot_classify


class ZeroShotInputError(ValueError):
    """Labels, class names or prompt templates that zero-shot classification cannot use."""


@dataclasses.dataclass(frozen=True)
class LabelClasses:
    """The classes of a label column and each example's class.

    Attributes:
        class_names: the competing classes, in class-id order.
        labels: (N,) the label strings ("" = none), as an object array.
        ids: (N,) int64 class id of each example; -1 when it is not scored (no label, or a
            label that is not a class name).
        warnings: messages naming what the user should know (absent or unlisted classes).
    """

    class_names: tuple
    labels: np.ndarray
    ids: np.ndarray
    warnings: tuple

    def unscored(self, mask=None):
        """`{"unlabelled": count, "unlisted": {label: count}}` of the examples in `mask` (all
        by default) that are not scored."""
        mask = np.ones(self.ids.shape, bool) if mask is None else np.asarray(mask, dtype=bool)
        unlabelled = mask & (self.labels == "")
        unlisted = mask & (self.ids < 0) & ~unlabelled
        counts = collections.Counter(self.labels[unlisted].tolist())
        return {"unlabelled": int(unlabelled.sum()), "unlisted": dict(sorted(counts.items()))}


def check_templates(templates):
    """The templates as a tuple; each must hold exactly one "{}" (where the class name goes)."""
    templates = tuple(templates)
    if not templates:
        raise ZeroShotInputError("No prompt template given (e.g. --prompt 'a picture of {}').")
    for template in templates:
        if template.count("{}") != 1:
            raise ZeroShotInputError(
                f"Prompt template {template!r} must contain exactly one '{{}}' for the class "
                "name, e.g. 'a picture of {}'."
            )
    return templates


def check_class_names(class_names):
    """The class names as a tuple: at least 2, none repeated."""
    class_names = tuple(class_names)
    repeated = sorted(n for n, c in collections.Counter(class_names).items() if c > 1)
    if repeated:
        raise ZeroShotInputError(f"Class names listed more than once: {repeated}.")
    if len(class_names) < 2:
        raise ZeroShotInputError(
            f"Zero-shot classification needs at least 2 class names, got {list(class_names)}."
        )
    return class_names


def prompt_texts(class_names, templates):
    """Per class, every template filled with its name: `[[t.replace("{}", name) ...], ...]`."""
    templates = check_templates(templates)
    return [[t.replace("{}", name) for t in templates] for name in class_names]


def label_strings(values, names=None):
    """The labels of a collected column as strings ("" = no label).

    Args:
        values: (N,) strings or bytes, or ints (negative = no label).
        names: class names of int labels (their index); None: ints are written as numbers.
    """
    values = np.asarray(values)
    if values.ndim != 1:
        raise ZeroShotInputError(
            f"The label column must hold one label per example, got shape {values.shape}."
        )
    if values.dtype.kind in "iu":
        if names is not None and values.size and values.max() >= len(names):
            raise ZeroShotInputError(
                f"Label id {values.max()} has no name ({len(names)} class names known)."
            )
        return [("" if v < 0 else names[v] if names is not None else str(v)) for v in values]
    return [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in values]


def label_classes(labels, class_names=()):
    """The classes of `labels` and each example's class id (see `LabelClasses`).

    Args:
        labels: N label strings ("" = no label).
        class_names: the classes to compete (default: the distinct non-empty labels, sorted).
    Raises:
        ZeroShotInputError: fewer than 2 classes (naming the single one), repeated class names,
            or no example with a listed label.
    """
    counts = collections.Counter(label for label in labels if label)
    if not class_names:
        if len(counts) < 2:
            raise ZeroShotInputError(_too_few_classes(counts))
        class_names = tuple(sorted(counts))
    class_names = check_class_names(class_names)
    index = {name: i for i, name in enumerate(class_names)}
    ids = np.array([index.get(label, -1) for label in labels], np.int64).reshape(-1)
    unlisted = {label: count for label, count in sorted(counts.items()) if label not in index}
    if not np.any(ids >= 0):
        raise ZeroShotInputError(
            f"No example has one of the class names {list(class_names)}; the labels are "
            f"{sorted(counts)[:20]}."
        )
    num_unlabelled = len(labels) - sum(counts.values())
    return LabelClasses(
        class_names=class_names,
        labels=np.array(list(labels), dtype=object).reshape(-1),
        ids=ids,
        warnings=tuple(_class_warnings(class_names, counts, unlisted, num_unlabelled)),
    )


def _too_few_classes(counts):
    if not counts:
        return "The label column has no labels: zero-shot classification needs 2 classes."
    (name, count), *_ = counts.items()
    return (
        f"The label column has a single class {name!r} ({_examples(count)}): zero-shot "
        "classification needs at least 2 (or pass --class-names)."
    )


def _class_warnings(class_names, counts, unlisted, num_unlabelled):
    warnings = []
    absent = [name for name in class_names if name not in counts]
    if absent:
        warnings.append(
            f"Class names absent from the evaluated labels (they still compete): {absent}."
        )
    if unlisted:
        listed = ", ".join(f"{name!r}: {count}" for name, count in unlisted.items())
        warnings.append(
            f"Not scored: {_examples(sum(unlisted.values()))} whose label is not a class name "
            f"({listed})."
        )
    if num_unlabelled:
        warnings.append(f"Not scored: {_examples(num_unlabelled)} without a label.")
    return warnings


def _examples(count):
    return f"{count} example" + ("" if count == 1 else "s")


def label_zero_shot(embeddings, class_embeddings, classes, valid):
    """Zero-shot metrics of the examples `valid` (e.g. those with an image) that have a class.

    Args:
        embeddings: (N, D) L2-normalized example embeddings.
        class_embeddings: (C, D) L2-normalized class embeddings.
        classes: the `LabelClasses` of the N examples.
        valid: (N,) bool.
    Returns:
        `{"accuracy", "chance", "majority_baseline", "num_examples", "num_classes",
        "per_class_accuracy": {name: float}, "macro_precision", "macro_recall", "macro_f1",
        "per_class": {name: {precision, recall, f1, support}}, "confusion_matrix",
        "class_names", "num_unscored": {"unlabelled": int, "unlisted": {label: int}}}`.
        Like `zero_shot_classify`, ties count against the example: the confusion matrix puts a
        tied example under the best other class, so its accuracy equals the strict accuracy.
    """
    valid = np.asarray(valid, dtype=bool)
    scored = valid & (classes.ids >= 0)
    if not scored.any():
        raise ZeroShotInputError("No example with this modality has a class to score.")
    embeddings = np.asarray(embeddings)
    result = zero_shot_classify(embeddings, class_embeddings, np.maximum(classes.ids, 0), scored)
    names = list(classes.class_names)
    result["per_class_accuracy"] = {
        names[i]: value for i, value in result["per_class_accuracy"].items()
    }
    labels = classes.ids[scored]
    scores = embeddings[scored] @ np.asarray(class_embeddings).T  # (S, C)
    predictions = pessimistic_predictions(scores, labels)
    report = classification_report(labels, predictions, len(names), names)
    report.pop("accuracy")  # equal to the strict accuracy above
    report.pop("num_examples")
    counts = np.bincount(labels, minlength=len(names))
    return {
        **result,
        "majority_baseline": float(counts.max() / labels.size),
        "num_classes": len(names),
        **report,
        "class_names": names,
        "num_unscored": classes.unscored(valid),
    }


def pessimistic_predictions(scores, labels):
    """The argmax class, except that a true class tied at the top counts as wrong: such an
    example is predicted as the best-scoring other class."""
    scores = np.asarray(scores, dtype=np.float64)
    rows = np.arange(labels.size)
    true_scores = scores[rows, labels]
    correct = np.sum(scores >= true_scores[:, None], axis=1) == 1
    others = scores.copy()
    others[rows, labels] = -np.inf
    return np.where(correct, labels, others.argmax(axis=1))
