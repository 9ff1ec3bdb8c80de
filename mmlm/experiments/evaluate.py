"""`evaluate(config, workdir)`: a trained run's metrics on a split, as a dict and JSON."""

import os

from mmlm.config import ConfigError, TaskKind
from mmlm.evaluation.backbone_zero_shot import LabelZeroShot, check_label_zero_shot
from mmlm.evaluation.confusion_plot import plot_confusion_matrix
from mmlm.evaluation.evaluator import evaluate_backbone
from mmlm.evaluation.label_zero_shot import ZeroShotInputError
from mmlm.evaluation.report import format_table
from mmlm.experiments.artifacts import load_backbone, model_dir, write_json
from mmlm.experiments.data import ExperimentData
from mmlm.experiments.explain import write_attention_summaries
from mmlm.experiments.model_card import METRICS, write_model_card


def evaluate(config, workdir, split="test", json_path=None, log=print):
    """Retrieval R@K in every direction (all, seen, held-out; duplicate-aware when captions
    repeat; shuffled-pair and chance controls), zero-shot classification from the label column
    (`config.evaluation`) and from the source's attributes, and caption perplexity of the
    backbone trained in `workdir`, on `split`; a text-only run is scored as a language model
    (`evaluate_language_model`); a fine-tuned task (`task.kind`) is scored by
    `evaluate_generation` / `evaluate_classification`. See docs/evaluation.md.

    Returns:
        The metrics dict (also written to `json_path` when given, with a confusion-matrix PNG
        per zero-shot-from-labels modality beside it, or in `workdir`; printed as a table).
    """
    if config.task.kind is not TaskKind.PRETRAINING:
        from mmlm.experiments.evaluate_classification import evaluate_classification
        from mmlm.experiments.evaluate_generation import evaluate_generation

        evaluate_task = {
            TaskKind.GENERATION: evaluate_generation,
            TaskKind.CLASSIFICATION: evaluate_classification,
        }[config.task.kind]
        metrics = evaluate_task(config, workdir, split, json_path, log=log)
        _refresh_model_card(config, workdir, json_path, log)
        return metrics
    data = ExperimentData(config, workdir)
    if data.modalities == ("text",):  # nothing to retrieve: a language model
        from mmlm.experiments.evaluate_language_model import evaluate_language_model

        return evaluate_language_model(config, workdir, split, json_path, log=log)
    dataset = data.dataset(split, masks=False, training=False)
    labels = _label_zero_shot(config.evaluation, data.source)
    try:
        if labels is not None:  # bad flags fail before the model loads
            check_label_zero_shot(labels, set(dataset.element_spec))
        backbone = load_backbone(workdir)
        metrics = evaluate_backbone(
            backbone,
            dataset,
            text_preprocessor=data.text_preprocessor() if data.vocabulary else None,
            labels=labels,
            source=data.source,
            ks=config.evaluation.ks,
            languages=_query_languages(config, data.source),
        )
    except ZeroShotInputError as error:
        feature = config.evaluation.label_feature
        raise ConfigError(f"zero-shot classification from {feature!r}: {error}") from error
    metrics = {"split": split, "workdir": os.path.abspath(workdir), **metrics}
    plot_stem = os.path.splitext(json_path or os.path.join(workdir, "metrics"))[0]
    _plot_label_confusions(metrics.get("zero_shot", {}), plot_stem)
    log(format_table(metrics))
    write_json(metrics, json_path, log)
    _refresh_model_card(config, workdir, json_path, log)
    _write_attention(
        backbone, dataset, os.path.join(workdir, "tensorboard", f"evaluate_{split}"), log
    )
    return metrics


def _query_languages(config, source):
    """{feature: language} of the further text features batches carry, whose language the
    source declares (scenes: {"text_es": "es"}; a manifest declares none)."""
    languages = source.languages
    return {f: languages[f] for f in config.data.text.extra_text_features if f in languages}


def _refresh_model_card(config, workdir, json_path, log):
    """Rewrites the card of the run's model/ when the run's own metrics file was written."""
    if json_path and os.path.abspath(json_path) == os.path.abspath(os.path.join(workdir, METRICS)):
        write_model_card(config, workdir, model_dir(workdir), "run model", log=log)


def _write_attention(backbone, dataset, log_dir, log):
    """The cross-modal attention maps of the split's first examples, as TensorBoard images."""
    tags = write_attention_summaries(backbone, next(iter(dataset)), log_dir)
    if tags:
        log(f"attention maps ({len(tags)} images per example) written to {log_dir}")


def _label_zero_shot(evaluation, source):
    """The `LabelZeroShot` of the evaluation section, or None when zero-shot from labels is off."""
    templates = evaluation.zero_shot_templates()
    if not templates or not evaluation.label_feature:
        return None
    names = source.label_names(evaluation.label_feature)
    return LabelZeroShot(
        feature=evaluation.label_feature,
        templates=templates,
        class_names=evaluation.class_names,
        label_names=tuple(names) if names is not None else None,
    )


def _plot_label_confusions(zero_shot, stem):
    """Writes `<stem>_<name>_confusion.png` for every zero-shot result with a confusion matrix
    and records its path in the result."""
    for name, result in zero_shot.items():
        if "confusion_matrix" in result:
            result["confusion_matrix_png"] = plot_confusion_matrix(
                result["confusion_matrix"], result["class_names"], f"{stem}_{name}_confusion.png"
            )
