"""Zero-shot classification with a backbone's text tower: from a label column or a source's
attributes, scored on the collected image and audio embeddings (see `EmbeddingCollector`)."""

import dataclasses

import numpy as np

from mmlm.backend import tf
from mmlm.evaluation.label_zero_shot import (
    ZeroShotInputError,
    check_class_names,
    check_templates,
    label_classes,
    label_strings,
    label_zero_shot,
    prompt_texts,
)
from mmlm.evaluation.zero_shot import class_embeddings_from_prompts, zero_shot_classify

# Prompts embedded per call of the text tower.
_PROMPT_BATCH = 512


@dataclasses.dataclass(frozen=True)
class LabelZeroShot:
    """What zero-shot classification from a label column needs.

    Attributes:
        feature: the batch feature holding the labels.
        templates: prompt templates, each with one "{}" for the class name.
        class_names: the competing classes (empty = the distinct labels of the data, sorted).
        label_names: names of integer label ids (None: ids are named by their number).
    """

    feature: str
    templates: tuple[str, ...]
    class_names: tuple[str, ...] = ()
    label_names: tuple[str, ...] | None = None


def check_label_zero_shot(spec, batch_features):
    """Fails fast, before the model runs, on what `label_zero_shot_report` would refuse: a
    label feature the batches do not have, a template without "{}", fewer than 2 class names."""
    if spec.feature not in batch_features:
        raise ZeroShotInputError(
            f"The evaluated batches have no label feature {spec.feature!r} (they have "
            f"{sorted(batch_features)}); set evaluation.label_feature."
        )
    check_templates(spec.templates)
    if spec.class_names:
        check_class_names(spec.class_names)


def embed_class_prompts(backbone, text_preprocessor, class_prompts):
    """(C, D) L2-normalized class embeddings: the mean text embedding of each class's prompts.

    Args:
        class_prompts: per class, a list of prompts (the same number for every class).
    """
    counts = {len(prompts) for prompts in class_prompts}
    if len(counts) != 1:
        raise ValueError(f"Every class needs as many prompts, got counts {sorted(counts)}.")
    flat = [prompt for prompts in class_prompts for prompt in prompts]
    parts = []
    for start in range(0, len(flat), _PROMPT_BATCH):
        tokens = text_preprocessor(tf.constant(flat[start : start + _PROMPT_BATCH]))
        parts.append(backbone.embed("text", tokens).numpy())
    embedded = np.concatenate(parts)  # (C·P, D)
    return class_embeddings_from_prompts(embedded.reshape(len(class_prompts), counts.pop(), -1))


def _scored_modalities(collected):
    return [m for m in ("image", "audio") if m in collected["embeddings"]]


def label_zero_shot_report(backbone, text_preprocessor, collected, spec):
    """`{"<feature>_from_<modality>": metrics}` (see `label_zero_shot`) and the warnings.

    Args:
        collected: an `EmbeddingCollector.collect` result that kept `spec.feature`.
        spec: a `LabelZeroShot`.
    Returns:
        (report, warnings): warnings name absent class names and unscored examples.
    Raises:
        ZeroShotInputError: a missing label feature, a template without "{}", fewer than two
            classes, or no scored example.
    """
    check_label_zero_shot(spec, collected["batch_features"])
    if spec.feature not in collected:
        raise ValueError(f"The collector did not keep {spec.feature!r} (its label_features).")
    if "text" not in backbone.modalities or text_preprocessor is None:
        raise ZeroShotInputError("Zero-shot classification needs a text tower and vocabulary.")
    templates = check_templates(spec.templates)
    labels = label_strings(collected[spec.feature], spec.label_names)
    classes = label_classes(labels, spec.class_names)
    class_embeddings = embed_class_prompts(
        backbone, text_preprocessor, prompt_texts(classes.class_names, templates)
    )
    report = {}
    for m in _scored_modalities(collected):
        valid = collected["present"][m]
        if not np.any(valid & (classes.ids >= 0)):
            continue
        result = label_zero_shot(collected["embeddings"][m], class_embeddings, classes, valid)
        report[f"{spec.feature}_from_{m}"] = {**result, "prompts": list(templates)}
    if not report:
        raise ZeroShotInputError(
            f"No example with an image or audio has a class label in {spec.feature!r}."
        )
    return report, list(classes.warnings)


def attribute_zero_shot_report(backbone, text_preprocessor, collected, prompts, labels):
    """Zero-shot accuracy of a source's attributes (a scene object's colour, ...).

    Args:
        prompts: `{attribute: (class names, prompts per class)}` (`Source.attribute_prompts`).
        labels: `{attribute: (ids, scored)}` (`Source.attribute_labels`).
    Returns:
        `{"<attribute>_from_<modality>": {"accuracy", "chance", "num_examples"}}`.
    """
    report = {}
    for attribute, (class_names, class_prompts) in prompts.items():
        if attribute not in labels:
            continue
        class_embeddings = embed_class_prompts(backbone, text_preprocessor, class_prompts)
        ids, scored = labels[attribute]
        for m in _scored_modalities(collected):
            valid = collected["present"][m] & scored
            result = zero_shot_classify(collected["embeddings"][m], class_embeddings, ids, valid)
            result.pop("per_class_accuracy", None)
            report[f"{attribute}_from_{m}"] = result
    return report
