"""Classification metrics equal scikit-learn's."""

import numpy as np
import pytest
from sklearn import metrics

from mmlm.evaluation.classification import classification_report, confusion_matrix


@pytest.mark.parametrize("seed", range(4))
def test_equals_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    num_classes = 6
    labels = rng.integers(0, num_classes, 200)
    # Mostly right, class 5 never predicted: zero-division cases are exercised.
    predictions = np.where(rng.uniform(size=200) < 0.6, labels, rng.integers(0, 5, 200))
    predictions[predictions == 5] = 4
    report = classification_report(labels, predictions, num_classes)
    everything = list(range(num_classes))
    kwargs = {"labels": everything, "zero_division": 0}
    assert report["accuracy"] == pytest.approx(metrics.accuracy_score(labels, predictions))
    for average in ("precision", "recall", "f1"):
        function = getattr(metrics, f"{average}_score")
        assert report[f"macro_{average}"] == pytest.approx(
            function(labels, predictions, average="macro", **kwargs)
        )
        per_class = function(labels, predictions, average=None, **kwargs)
        got = [report["per_class"][str(c)][average] for c in everything]
        np.testing.assert_allclose(got, per_class)
    np.testing.assert_array_equal(
        report["confusion_matrix"], metrics.confusion_matrix(labels, predictions, labels=everything)
    )


def test_bad_labels():
    with pytest.raises(ValueError, match=r"labels must be in \[0, 3\)"):
        confusion_matrix([0, 3], [0, 1], 3)
    with pytest.raises(ValueError, match="equal 1-D shapes"):
        confusion_matrix([0, 1], [0], 3)
