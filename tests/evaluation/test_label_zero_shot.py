"""Zero-shot classification from a label column on constructed embeddings, and bad input."""

import numpy as np
import pytest

from mmlm.evaluation.classification import classification_report
from mmlm.evaluation.label_zero_shot import (
    ZeroShotInputError,
    check_templates,
    label_classes,
    label_strings,
    label_zero_shot,
    pessimistic_predictions,
    prompt_texts,
)
from mmlm.evaluation.zero_shot import zero_shot_classify


def _unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _noisy_examples(class_embeddings, ids, noise, seed=0):
    rng = np.random.default_rng(seed)
    return _unit(class_embeddings[ids] + noise * rng.standard_normal((len(ids), 8)))


def test_report_on_synthetic_embeddings():
    rng = np.random.default_rng(0)
    labels = list(rng.choice(["cat", "dog", "owl"], size=120, p=[0.5, 0.3, 0.2]))
    classes = label_classes(labels)
    assert classes.class_names == ("cat", "dog", "owl") and classes.warnings == ()
    class_embeddings = _unit(rng.standard_normal((3, 8)))
    embeddings = _noisy_examples(class_embeddings, classes.ids, noise=0.4)
    valid = np.arange(120) % 10 != 0  # e.g. rows without an image
    result = label_zero_shot(embeddings, class_embeddings, classes, valid)

    ids = classes.ids[valid]
    strict = zero_shot_classify(embeddings, class_embeddings, classes.ids, valid)
    predictions = np.argmax(embeddings[valid] @ class_embeddings.T, axis=1)  # no ties here
    reference = classification_report(ids, predictions, 3, ["cat", "dog", "owl"])
    assert result["accuracy"] == pytest.approx(strict["accuracy"])
    assert result["accuracy"] == pytest.approx(reference["accuracy"])
    assert result["macro_f1"] == pytest.approx(reference["macro_f1"])
    assert result["confusion_matrix"] == reference["confusion_matrix"]
    assert result["chance"] == pytest.approx(1 / 3)
    assert result["num_examples"] == valid.sum() and result["num_classes"] == 3
    assert result["majority_baseline"] == pytest.approx(np.mean(ids == 0))
    for index, name in enumerate(classes.class_names):
        accuracy = np.mean(predictions[ids == index] == index)
        assert result["per_class_accuracy"][name] == pytest.approx(accuracy)
        assert result["per_class"][name]["recall"] == pytest.approx(accuracy)
    assert result["num_unscored"] == {"unlabelled": 0, "unlisted": {}}


def test_ties_count_against_the_example_in_the_confusion_matrix():
    scores = np.array([[1.0, 1.0, 0.0], [0.2, 0.9, 0.9], [0.0, 0.5, 0.1]])
    labels = np.array([0, 2, 1])
    np.testing.assert_array_equal(pessimistic_predictions(scores, labels), [1, 1, 1])


def test_templates_fill_and_need_one_placeholder():
    assert prompt_texts(["cat", "dog"], ["a picture of {}", "{}"]) == [
        ["a picture of cat", "cat"],
        ["a picture of dog", "dog"],
    ]
    with pytest.raises(ZeroShotInputError, match="'a picture'.*exactly one '\\{\\}'"):
        check_templates(["{}", "a picture"])
    with pytest.raises(ZeroShotInputError, match="exactly one"):
        check_templates(["{} and {}"])
    with pytest.raises(ZeroShotInputError, match="No prompt template"):
        check_templates([])


def test_a_single_class_or_no_label_is_an_error_naming_it():
    with pytest.raises(ZeroShotInputError, match="single class 'cat' \\(3 examples\\)"):
        label_classes(["cat", "", "cat", "cat"])
    with pytest.raises(ZeroShotInputError, match="no labels"):
        label_classes(["", ""])
    with pytest.raises(ZeroShotInputError, match="at least 2 class names"):
        label_classes(["cat", "dog"], class_names=("cat",))
    with pytest.raises(ZeroShotInputError, match="more than once: \\['cat'\\]"):
        label_classes(["cat", "dog"], class_names=("cat", "dog", "cat"))
    with pytest.raises(ZeroShotInputError, match="No example has one of the class names"):
        label_classes(["cat", "dog"], class_names=("owl", "emu"))


def test_user_class_names_absent_and_unlisted_labels_are_reported():
    labels = ["cat", "dog", "dog", "fox", "", "fox", "cat", "rat"]
    classes = label_classes(labels, class_names=("cat", "dog", "owl"))
    np.testing.assert_array_equal(classes.ids, [0, 1, 1, -1, -1, -1, 0, -1])
    absent, unlisted, unlabelled = classes.warnings
    assert "absent" in absent and "['owl']" in absent and "still compete" in absent
    assert unlisted == (
        "Not scored: 3 examples whose label is not a class name ('fox': 2, 'rat': 1)."
    )
    assert unlabelled == "Not scored: 1 example without a label."
    assert classes.unscored() == {"unlabelled": 1, "unlisted": {"fox": 2, "rat": 1}}

    class_embeddings = np.eye(3)
    embeddings = np.eye(3)[np.maximum(classes.ids, 0)]
    valid = np.array([True] * 7 + [False])  # the "rat" row has no image
    result = label_zero_shot(embeddings, class_embeddings, classes, valid)
    assert result["num_examples"] == 4 and result["accuracy"] == 1.0
    assert result["chance"] == pytest.approx(1 / 3)  # the absent class still competes
    assert result["num_unscored"] == {"unlabelled": 1, "unlisted": {"fox": 2}}
    assert set(result["per_class_accuracy"]) == {"cat", "dog"}
    assert result["per_class"]["owl"]["support"] == 0


def test_label_strings_of_bytes_and_ids():
    assert label_strings(np.array([b"cat", b""], object)) == ["cat", ""]
    assert label_strings(np.array([1, -1, 0]), names=["zero", "one"]) == ["one", "", "zero"]
    assert label_strings(np.array([3, 4])) == ["3", "4"]
    with pytest.raises(ZeroShotInputError, match="one label per example"):
        label_strings(np.zeros((2, 2), np.int32))
    with pytest.raises(ZeroShotInputError, match="no name"):
        label_strings(np.array([2]), names=["a", "b"])


def test_no_scored_example_is_an_error():
    classes = label_classes(["cat", "dog"])
    with pytest.raises(ZeroShotInputError, match="No example"):
        label_zero_shot(np.eye(2), np.eye(2), classes, valid=[False, False])
