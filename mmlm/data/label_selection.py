"""Semi-supervised training data: a labelled subset plus pseudo labels, named by example index.

A source whose examples carry an `index` feature (the IDX source: the position in its file)
can be trained on as if only the examples with `index < num_labelled` had labels. Pseudo labels
(`mmlm pseudo-label`) are a JSON file mapping further indices to the label a teacher gave them;
`LabelSelection` keeps the labelled and pseudo-labelled examples of a split and drops the rest.
"""

import json
import os

import numpy as np

from mmlm.backend import tf
from mmlm.config import ConfigError

PSEUDO_LABELS_FORMAT = "mmlm-pseudo-labels/1"


def write_pseudo_labels(path, indices, labels, confidences, **metadata):
    """Writes pseudo labels (parallel lists) and free-form `metadata` to a JSON file."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    record = {
        "format": PSEUDO_LABELS_FORMAT,
        **metadata,
        "indices": [int(i) for i in indices],
        "labels": [int(label) for label in labels],
        "confidences": [round(float(c), 5) for c in confidences],
    }
    with open(path, "w", encoding="utf-8") as f:
        json.dump(record, f)


def read_pseudo_labels(path):
    """`(indices int64, labels int32, record)` of a pseudo-label file, checked."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"task.pseudo_labels={path!r}: no such file")
    with open(path, encoding="utf-8") as f:
        try:
            record = json.load(f)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}: not JSON ({error})") from None
    if not isinstance(record, dict) or record.get("format") != PSEUDO_LABELS_FORMAT:
        raise ValueError(
            f"{path}: expected format {PSEUDO_LABELS_FORMAT!r} (from mmlm pseudo-label)"
        )
    indices = np.asarray(record.get("indices", []), np.int64)
    labels = np.asarray(record.get("labels", []), np.int32)
    if indices.ndim != 1 or indices.shape != labels.shape:
        raise ValueError(
            f"{path}: 'indices' ({indices.shape}) and 'labels' ({labels.shape}) must be lists "
            "of the same length"
        )
    if len(np.unique(indices)) != len(indices):
        raise ValueError(f"{path}: an index appears twice")
    return indices, labels, record


class LabelSelection:
    """Keeps the examples that have a label in a semi-supervised run and sets that label.

    Examples with `index < num_labelled` keep their own label; those named in the pseudo labels
    take the pseudo label; all others are dropped.

    Args:
        label_feature: the label key of the standardized examples.
        num_labelled: size of the labelled subset (by `index`).
        pseudo_indices, pseudo_labels: optional parallel arrays of pseudo labels.
    """

    def __init__(self, label_feature, num_labelled, pseudo_indices=None, pseudo_labels=None):
        if num_labelled < 1:
            raise ValueError(f"num_labelled must be at least 1, got {num_labelled}")
        self.label_feature = label_feature
        self.num_labelled = num_labelled
        self.table = None
        if pseudo_indices is not None and len(pseudo_indices):
            self.table = tf.lookup.StaticHashTable(
                tf.lookup.KeyValueTensorInitializer(
                    tf.constant(pseudo_indices, tf.int64), tf.constant(pseudo_labels, tf.int32)
                ),
                default_value=-1,
            )

    def __call__(self, dataset):
        spec = dataset.element_spec
        if "index" not in spec or self.label_feature not in spec:
            raise ConfigError(
                "a labelled subset (task.num_labelled) needs examples with an 'index' and a "
                f"{self.label_feature!r} feature; this source has {sorted(spec)}"
            )
        selected = dataset.map(self._relabel).filter(lambda ex: ex[self.label_feature] >= 0)
        if self.table is None:
            # At most `num_labelled` examples: kept in memory, so that each pass over them does
            # not read (and decode) the whole split again.
            selected = selected.cache()
        return selected

    def _relabel(self, example):
        label = tf.cast(example[self.label_feature], tf.int32)
        index = tf.cast(example["index"], tf.int64)
        pseudo = self.table.lookup(index) if self.table is not None else tf.constant(-1)
        labelled = index < self.num_labelled
        return {**example, self.label_feature: tf.where(labelled, label, pseudo)}


def label_selection(task):
    """The `LabelSelection` of a `TaskConfig`, or None when every example keeps its label."""
    if not task.num_labelled:
        if task.pseudo_labels:
            raise ConfigError("task.pseudo_labels needs task.num_labelled (the labelled subset)")
        return None
    indices = labels = None
    if task.pseudo_labels:
        indices, labels, record = read_pseudo_labels(task.pseudo_labels)
        if record.get("num_labelled") not in (None, task.num_labelled):
            raise ConfigError(
                f"{task.pseudo_labels} was made for num_labelled={record['num_labelled']}, "
                f"this run has task.num_labelled={task.num_labelled}"
            )
        if len(indices) and indices.min() < task.num_labelled:
            raise ConfigError(
                f"{task.pseudo_labels}: pseudo labels for labelled examples (index "
                f"{indices.min()} < num_labelled={task.num_labelled})"
            )
        if len(labels) and (labels.min() < 0 or labels.max() >= task.num_classes):
            raise ConfigError(
                f"{task.pseudo_labels}: labels must be in [0, {task.num_classes}), got "
                f"[{labels.min()}, {labels.max()}]"
            )
    return LabelSelection(task.label_feature, task.num_labelled, indices, labels)
