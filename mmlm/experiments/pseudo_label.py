"""`pseudo_label`: a fine-tuned classifier labels the unlabelled training examples it is sure of.

Self-training (Lee, 2013; Xie et al., 2020): a model trained on the labelled subset
(`task.num_labelled`) predicts every other training example; the predictions whose softmax
probability reaches `threshold` become labels (`task.pseudo_labels`) for a second run that starts
from the same pretrained backbone.
"""

import collections
import os

import numpy as np

from mmlm.backend import tf
from mmlm.config import ConfigError
from mmlm.data.label_selection import write_pseudo_labels
from mmlm.experiments.data import ExperimentData
from mmlm.experiments.finetune import classify, load_task


def pseudo_label(config, workdir, out, threshold=0.9, per_class=0, log=print):
    """Writes pseudo labels of the unlabelled training examples to `out` and returns a summary.

    The summary also scores the pseudo labels against the true labels the source holds: the
    training never reads those, the number says how much noise the second run inherits.

    Args:
        config: the `ExperimentConfig` of the run in `workdir` (a classification task with
            `task.num_labelled`).
        workdir: the fine-tuned classifier's run directory.
        out: the JSON file to write (`mmlm.data.label_selection` format).
        threshold: smallest softmax probability of a kept prediction, in [0, 1).
        per_class: if > 0, keep at most this many predictions per predicted class, the most
            confident ones (class-balanced self-training: a threshold alone keeps mostly the
            easy classes).
        log: line printer.
    """
    task_config = config.task
    if not task_config.num_labelled:
        raise ConfigError("pseudo-labelling needs task.num_labelled (the labelled subset)")
    if not 0.0 <= threshold < 1.0:
        raise ConfigError(f"--threshold must be in [0, 1), got {threshold}")
    data = ExperimentData(config, workdir)
    task = load_task(config, workdir)
    dataset = data.dataset("train", masks=False, training=False)
    if "index" not in dataset.element_spec:
        raise ConfigError(
            f"pseudo-labelling names examples by their 'index'; {data.source.name} has none"
        )
    outputs = classify(task, dataset, features=("index",))
    unlabelled = outputs["index"] >= task_config.num_labelled
    if not unlabelled.any():
        raise ConfigError(
            f"no training example has an index >= task.num_labelled={task_config.num_labelled}: "
            "nothing is unlabelled"
        )
    probabilities = tf.nn.softmax(outputs["logits"][unlabelled], axis=-1).numpy()
    indices, true_labels = outputs["index"][unlabelled], outputs["labels"][unlabelled]
    predicted, confidences = probabilities.argmax(-1), probabilities.max(-1)
    kept = confidences >= threshold
    if per_class > 0:
        kept &= _most_confident_per_class(predicted, confidences, per_class)
    names = data.source.label_names(task_config.label_feature) or list(
        range(task_config.num_classes)
    )
    summary = {
        "teacher": os.path.abspath(workdir),
        "threshold": threshold,
        "per_class_cap": per_class,
        "label_feature": task_config.label_feature,
        "num_labelled": task_config.num_labelled,
        "num_unlabelled": int(len(indices)),
        "num_pseudo_labelled": int(kept.sum()),
        "coverage": float(kept.mean()),
        # Diagnostics only: the true labels of the unlabelled examples.
        "pseudo_label_accuracy": float((predicted[kept] == true_labels[kept]).mean())
        if kept.any()
        else None,
        "all_predictions_accuracy": float((predicted == true_labels).mean()),
        "per_class": {
            str(names[c]): n
            for c, n in sorted(collections.Counter(predicted[kept].tolist()).items())
        },
    }
    write_pseudo_labels(out, indices[kept], predicted[kept], confidences[kept], **summary)
    accuracy = summary["pseudo_label_accuracy"]
    log(
        f"pseudo-labelled {summary['num_pseudo_labelled']} of {summary['num_unlabelled']} "
        f"unlabelled training examples (confidence ≥ {threshold}"
        f"{f', at most {per_class} per class' if per_class > 0 else ''}; coverage "
        f"{summary['coverage']:.3f}); against their true labels: accuracy "
        f"{'n/a' if accuracy is None else f'{accuracy:.4f}'} (all predictions: "
        f"{summary['all_predictions_accuracy']:.4f}) → {out}"
    )
    log("per class: " + ", ".join(f"{k} {v}" for k, v in summary["per_class"].items()))
    return summary


def _most_confident_per_class(predicted, confidences, count):
    """Mask of the `count` most confident predictions of each predicted class."""
    keep = np.zeros(len(predicted), bool)
    for label in np.unique(predicted):
        rows = np.flatnonzero(predicted == label)
        keep[rows[np.argsort(-confidences[rows], kind="stable")[:count]]] = True
    return keep
