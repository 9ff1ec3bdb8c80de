"""`evaluate_classification`: a fine-tuned classifier's report and confusion matrix."""

import os

from mmlm.evaluation.classification import classification_report
from mmlm.evaluation.confusion_plot import plot_confusion_matrix
from mmlm.evaluation.text_baseline import tfidf_logistic_regression
from mmlm.experiments.artifacts import write_json
from mmlm.experiments.data import ExperimentData
from mmlm.experiments.finetune import classify, load_task


def evaluate_classification(config, workdir, split="test", json_path=None, log=print):
    """Accuracy, macro and per-class precision/recall/F1 and the confusion matrix (also as a
    PNG beside the JSON, or in `workdir`) of a fine-tuned classification task on `split`; a
    text classifier beside a TF-IDF + logistic-regression and a majority-class baseline."""
    data = ExperimentData(config, workdir)
    task = load_task(config, workdir)
    text = config.task.modality == "text"
    features = ("text",) if text else ()
    outputs = classify(task, data.dataset(split, masks=False, training=False), features)
    keep = outputs["weights"] > 0
    labels = list(outputs["labels"][keep])
    predictions = list(outputs["logits"].argmax(-1)[keep])
    names = data.source.label_names(config.task.label_feature)
    report = classification_report(labels, predictions, config.task.num_classes, names)
    metrics = {
        "split": split,
        "workdir": os.path.abspath(workdir),
        "modality": config.task.modality,
        "label": f"{config.task.label_feature}[{config.task.label_index}]",
        **report,
    }
    if text:
        metrics["baselines"] = _text_baselines(data, task, outputs, keep, labels, config, names)
    plot_path = os.path.splitext(json_path or os.path.join(workdir, "metrics"))[0]
    metrics["confusion_matrix_png"] = plot_confusion_matrix(
        report["confusion_matrix"], names, plot_path + "_confusion.png"
    )
    log(
        f"{split} split, {report['num_examples']} examples, {metrics['label']} from "
        f"{metrics['modality']}: accuracy {report['accuracy']:.4f}, macro F1 "
        f"{report['macro_f1']:.4f} (precision {report['macro_precision']:.4f}, recall "
        f"{report['macro_recall']:.4f})"
    )
    for name, row in report["per_class"].items():
        log(
            f"  {name:14s} P {row['precision']:.3f} R {row['recall']:.3f} F1 {row['f1']:.3f} "
            f"(n={row['support']})"
        )
    for name, baseline in metrics.get("baselines", {}).items():
        log(
            f"  baseline {name}: accuracy {baseline['accuracy']:.4f}, macro F1 "
            f"{baseline['macro_f1']:.4f}"
        )
    write_json(metrics, json_path, log)
    return metrics


def _text_baselines(data, task, outputs, keep, labels, config, names):
    """Bag-of-words and majority baselines of a text classifier, fitted on the training split
    (its labelled rows) and scored on the same rows as the model."""
    train = classify(task, data.dataset("train", masks=False, training=False), ("text",))
    train_keep = train["weights"] > 0
    train_texts = [t.decode("utf-8") for t in train["text"][train_keep]]
    train_labels = list(train["labels"][train_keep])
    test_texts = [t.decode("utf-8") for t in outputs["text"][keep]]
    tfidf = tfidf_logistic_regression(train_texts, train_labels, test_texts)
    majority = max(set(train_labels), key=train_labels.count)
    k = config.task.num_classes
    return {
        "tfidf_logistic_regression": _summary(classification_report(labels, list(tfidf), k, names)),
        "majority_class": _summary(classification_report(labels, [majority] * len(labels), k)),
    }


def _summary(report):
    return {key: report[key] for key in ("accuracy", "macro_f1", "num_examples")}
