"""Labelled subsets and pseudo labels: which examples train, with which label, and bad files."""

import dataclasses
import json

import pytest

from mmlm.backend import tf
from mmlm.config import ConfigError, TaskConfig, TaskKind
from mmlm.data.label_selection import (
    LabelSelection,
    label_selection,
    read_pseudo_labels,
    write_pseudo_labels,
)

TASK = TaskConfig(kind=TaskKind.CLASSIFICATION, label_feature="label", num_classes=3)


def _examples(n=10):
    return tf.data.Dataset.from_tensor_slices(
        {"index": tf.range(n, dtype=tf.int64), "label": tf.range(n, dtype=tf.int32) % 3}
    )


def test_selection_keeps_labelled_and_pseudo_labelled_examples():
    selection = LabelSelection("label", 4, pseudo_indices=[7, 5], pseudo_labels=[0, 2])
    kept = {int(e["index"]): int(e["label"]) for e in selection(_examples())}
    # 0-3 keep their own labels (i % 3); 5 and 7 take the pseudo labels; the rest are dropped.
    assert kept == {0: 0, 1: 1, 2: 2, 3: 0, 5: 2, 7: 0}
    only_labelled = LabelSelection("label", 2)(_examples())
    assert [int(e["index"]) for e in only_labelled] == [0, 1]


def test_pseudo_label_files_round_trip_and_are_checked(tmp_path):
    path = str(tmp_path / "pseudo.json")
    write_pseudo_labels(path, [5, 7], [2, 0], [0.95, 0.91], num_labelled=4, threshold=0.9)
    indices, labels, record = read_pseudo_labels(path)
    assert indices.tolist() == [5, 7] and labels.tolist() == [2, 0]
    assert record["threshold"] == 0.9
    task = dataclasses.replace(TASK, num_labelled=4, pseudo_labels=path)
    assert {int(e["index"]) for e in label_selection(task)(_examples())} == {0, 1, 2, 3, 5, 7}

    with pytest.raises(ConfigError, match="made for num_labelled=4"):
        label_selection(dataclasses.replace(task, num_labelled=3))
    write_pseudo_labels(path, [5, 7], [2, 0], [0.95, 0.91])  # no num_labelled recorded
    with pytest.raises(ConfigError, match=r"index 5 < num_labelled=6"):
        label_selection(dataclasses.replace(task, num_labelled=6))
    write_pseudo_labels(path, [5], [3], [0.99], num_labelled=4)
    with pytest.raises(ValueError, match=r"labels must be in \[0, 3\)"):
        label_selection(task)
    with open(path, "w") as f:
        json.dump({"format": "mmlm-pseudo-labels/1", "indices": [5, 5], "labels": [0, 1]}, f)
    with pytest.raises(ValueError, match="appears twice"):
        read_pseudo_labels(path)
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_pseudo_labels(str(tmp_path / "missing.json"))
    with pytest.raises(ConfigError, match="needs task.num_labelled"):
        label_selection(dataclasses.replace(TASK, pseudo_labels=path))
    assert label_selection(TASK) is None
    no_index = tf.data.Dataset.from_tensor_slices({"label": [0, 1]})
    with pytest.raises(ConfigError, match="needs examples with an 'index'"):
        LabelSelection("label", 1)(no_index)
