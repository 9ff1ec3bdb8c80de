"""Evaluates a pretrained backbone on a split: retrieval, zero-shot, perplexity."""

import numpy as np

from mmlm.backend import tf
from mmlm.evaluation.backbone_zero_shot import (
    attribute_zero_shot_report,
    check_label_zero_shot,
    label_zero_shot_report,
)
from mmlm.evaluation.duplicate_captions import caption_counts
from mmlm.evaluation.label_zero_shot import label_strings
from mmlm.evaluation.perplexity import PerplexityAccumulator
from mmlm.evaluation.retrieval import retrieval_report
from mmlm.models import ENCODER_INPUTS
from mmlm.objectives import token_cross_entropy
from mmlm.tasks.pretraining_task import captioning_inputs, captioning_targets

# Per-example fields every collection keeps next to the embeddings: the held-out subset and
# the raw caption (duplicate-aware retrieval, the projector's labels).
_LABEL_FIELDS = ("heldout", "text")


class EmbeddingCollector:
    """Runs a backbone over a data set once: unit embeddings per modality and caption CE.

    Args:
        backbone: a `MultimodalBackbone`.
        label_features: further per-example features to keep (a label column, the features of
            a source's attributes); strings are decoded to `str`.
        text_features: further text features (e.g. "text_es") whose `{f}_token_ids` and
            `{f}_padding_mask` the text tower also embeds, as queries in another language;
            collected under "text_embeddings".
    """

    def __init__(self, backbone, label_features=(), text_features=()):
        self.backbone = backbone
        self.label_features = tuple(dict.fromkeys(_LABEL_FIELDS + tuple(label_features)))
        self.text_features = tuple(text_features) if "text" in backbone.modalities else ()
        self._step = tf.function(self._forward)

    def _forward(self, batch):
        modalities = self.backbone.modalities
        outputs = {}
        if self.backbone.text_decoder is not None:
            model_outputs = self.backbone(captioning_inputs(batch, modalities), training=False)
            for m in modalities:
                outputs[m] = model_outputs[f"{m}_embedding"]
            labels, weights = captioning_targets(batch, modalities)
            outputs["ce_sum"], outputs["tokens"] = token_cross_entropy(
                model_outputs["decoder_logits"], labels, weights
            )
        else:
            for m in modalities:
                outputs[m] = self.backbone.embed(m, batch)
        for feature in self.text_features:
            tokens = {name: batch[f"{feature}_{name}"] for name in ENCODER_INPUTS["text"]}
            outputs[f"text:{feature}"] = self.backbone.embed("text", tokens)
        return outputs

    def collect(self, dataset, max_batches=None):
        """Returns {"embeddings": {m: (N, D)}, "present": {m: (N,)}, "text_embeddings":
        {feature: (N, D)}, labels..., "perplexity", "batch_features": the sorted feature names
        of the batches}."""
        modalities = self.backbone.modalities
        rows = {"embeddings": {m: [] for m in modalities}, "present": {m: [] for m in modalities}}
        rows["text_embeddings"] = {f: [] for f in self.text_features}
        labels = {}
        perplexity = PerplexityAccumulator()
        batch_features = set()
        for index, batch in enumerate(dataset):
            if max_batches and index >= max_batches:
                break
            batch_features.update(batch)
            outputs = self._step(_model_features(batch, modalities, self.text_features))
            for m in modalities:
                rows["embeddings"][m].append(outputs[m].numpy())
                rows["present"][m].append(batch[f"{m}_present"].numpy().astype(bool))
            for feature in self.text_features:
                rows["text_embeddings"][feature].append(outputs[f"text:{feature}"].numpy())
            for field in self.label_features:
                if field in batch:
                    labels.setdefault(field, []).append(_decoded(batch[field].numpy()))
            if "ce_sum" in outputs and float(outputs["tokens"]) > 0:
                perplexity.update(float(outputs["ce_sum"]), float(outputs["tokens"]))
        collected = {
            key: {m: np.concatenate(parts) for m, parts in value.items()}
            for key, value in rows.items()
        }
        collected.update({field: np.concatenate(parts) for field, parts in labels.items()})
        collected["perplexity"] = perplexity
        collected["batch_features"] = sorted(batch_features)
        return collected


def _decoded(values):
    """Byte strings as an object array of `str`; other arrays unchanged."""
    if values.dtype.kind in "OS":
        return np.array([v.decode("utf-8") for v in values.reshape(-1)], object).reshape(
            values.shape
        )
    return values


def _model_features(batch, modalities, text_features=()):
    """The numeric features the backbone reads (strings and labels stay outside tf.function)."""
    keys = [name for m in modalities for name in ENCODER_INPUTS[m]]
    keys += [f"{m}_present" for m in modalities]
    keys += [f"{f}_{name}" for f in text_features for name in ENCODER_INPUTS["text"]]
    return {key: batch[key] for key in keys}


def evaluate_backbone(
    backbone,
    dataset,
    text_preprocessor=None,
    *,
    labels=None,
    source=None,
    ks=(1, 5, 10),
    max_batches=None,
    collector=None,
    languages=None,
):
    """The metrics dict of a data set: `num_examples`, `retrieval` (with control rows and, from
    the raw captions, duplicate-aware R@K), `per_language`, `captions`, `zero_shot`,
    `warnings`, `perplexity`.

    Args:
        backbone: a `MultimodalBackbone`.
        dataset: batches with the model inputs, presence flags and raw features.
        text_preprocessor: tokenizes prompts (zero-shot needs it and a text tower).
        labels: a `LabelZeroShot`: zero-shot classification from a label column.
        source: a data `Source`: its attributes (`attribute_prompts`) are scored zero-shot.
        ks: the K of Recall@K.
        max_batches: evaluate only this many batches (None = all).
        collector: an `EmbeddingCollector` of `backbone` to reuse, so that repeated evaluations
            (every `eval_every` steps of a run) trace its step once rather than at every call.
        languages: {text feature: language} of the further text features (e.g. {"text_es":
            "es"}) to query with as well: `per_language` then holds, per language, R@K of
            every direction with text, that feature's texts standing in for "text". Features
            absent from the batches are skipped.
    """
    if labels is not None and isinstance(dataset.element_spec, dict):
        check_label_zero_shot(labels, set(dataset.element_spec))
    languages = dict(languages or {})
    if isinstance(dataset.element_spec, dict):
        languages = {
            f: lang for f, lang in languages.items() if f"{f}_token_ids" in dataset.element_spec
        }
    if collector is None:
        features = (labels.feature,) if labels else ()
        features += tuple(source.attribute_label_features) if source is not None else ()
        collector = EmbeddingCollector(backbone, features, tuple(languages))
    elif collector.backbone is not backbone:
        raise ValueError("The collector runs another backbone than the one evaluated.")
    collected = collector.collect(dataset, max_batches)
    num_examples = len(next(iter(collected["embeddings"].values())))
    subsets = None
    if "heldout" in collected:
        heldout = collected["heldout"].astype(bool)
        subsets = {"seen": ~heldout, "heldout": heldout}
    captions = collected.get("text")
    metrics = {
        "num_examples": int(num_examples),
        "retrieval": retrieval_report(
            collected["embeddings"], collected["present"], subsets, ks, captions=captions
        ),
    }
    per_language = retrieval_per_language(collected, languages, ks)
    if per_language:
        metrics["per_language"] = per_language
    if captions is not None:
        metrics["captions"] = caption_counts(captions)
    if labels is not None and labels.feature in collected:
        names = label_strings(collected[labels.feature], labels.label_names)
        by_label = retrieval_by_label(collected, names, ks)
        if by_label:
            metrics["retrieval_by_label"] = by_label
    zero_shot, warnings = _zero_shot(backbone, text_preprocessor, collected, labels, source)
    if zero_shot:
        metrics["zero_shot"] = zero_shot
    if warnings:
        metrics["warnings"] = warnings
    accumulator = collected["perplexity"]
    if accumulator.total_tokens:
        metrics["perplexity"] = float(accumulator.result())
    return metrics


def retrieval_by_label(collected, labels, ks=(1, 5, 10)):
    """{direction: {label: {"R@K", "num_queries"}}}: each class's queries ranked against all
    candidates (`retrieval_report` subsets); examples without a label ("") are left out.

    Args:
        collected: an `EmbeddingCollector.collect` result.
        labels: (N,) label strings (`label_strings`).
        ks: the K of Recall@K.
    """
    labels = np.asarray(labels, dtype=object)
    subsets = {name: labels == name for name in sorted(set(labels) - {""})}
    if not subsets:
        return {}
    report = retrieval_report(collected["embeddings"], collected["present"], subsets, ks)
    return {direction: result.get("subsets", {}) for direction, result in report.items()}


def retrieval_per_language(collected, languages, ks=(1, 5, 10)):
    """{language: {direction: {"R@K", "median_rank", "num_queries"}}}: each further text
    feature's embeddings (`EmbeddingCollector` "text_embeddings") in place of "text", for every
    direction with text; the other modalities' embeddings and every presence flag unchanged."""
    result = {}
    for feature, language in languages.items():
        embeddings = collected.get("text_embeddings", {}).get(feature)
        if embeddings is None:
            continue
        report = retrieval_report(
            {**collected["embeddings"], "text": embeddings}, collected["present"], ks=ks
        )
        result[language] = {
            direction: {k: v for k, v in row.items() if k != "control"}
            for direction, row in report.items()
            if "text" in direction.split("_to_")
        }
    return result


def _zero_shot(backbone, text_preprocessor, collected, labels, source):
    """(zero-shot report of the label column and of the source's attributes, warnings)."""
    report, warnings = {}, []
    if labels is not None:
        report, warnings = label_zero_shot_report(backbone, text_preprocessor, collected, labels)
    prompts = source.attribute_prompts() if source is not None else None
    if prompts and text_preprocessor is not None and "text" in backbone.modalities:
        attribute_labels = source.attribute_labels(
            {f: collected[f] for f in source.attribute_label_features if f in collected}
        )
        report.update(
            attribute_zero_shot_report(
                backbone, text_preprocessor, collected, prompts, attribute_labels
            )
        )
    return report, warnings
