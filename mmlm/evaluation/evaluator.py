"""Evaluates a pretrained backbone on a split: retrieval, zero-shot attributes, perplexity."""

import numpy as np

from mmlm.backend import tf
from mmlm.evaluation.perplexity import PerplexityAccumulator
from mmlm.evaluation.retrieval import retrieval_report
from mmlm.evaluation.zero_shot import class_embeddings_from_prompts, zero_shot_classify
from mmlm.objectives import token_cross_entropy
from mmlm.tasks.pretraining_task import captioning_inputs, captioning_targets

# Per-example fields kept next to the embeddings (labels of the scenes data set).
_LABEL_FIELDS = ("heldout", "object_color", "object_shape", "object_position", "text")


class EmbeddingCollector:
    """Runs a backbone over a data set once: unit embeddings per modality and caption CE.

    Args:
        backbone: a `MultimodalBackbone`.
    """

    def __init__(self, backbone):
        self.backbone = backbone
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
        return outputs

    def collect(self, dataset, max_batches=None):
        """Returns {"embeddings": {m: (N, D)}, "present": {m: (N,)}, labels..., "perplexity"}."""
        modalities = self.backbone.modalities
        rows = {"embeddings": {m: [] for m in modalities}, "present": {m: [] for m in modalities}}
        labels = {}
        perplexity = PerplexityAccumulator()
        for index, batch in enumerate(dataset):
            if max_batches and index >= max_batches:
                break
            outputs = self._step(_model_features(batch, modalities))
            for m in modalities:
                rows["embeddings"][m].append(outputs[m].numpy())
                rows["present"][m].append(batch[f"{m}_present"].numpy().astype(bool))
            for field in _LABEL_FIELDS:
                if field in batch:
                    labels.setdefault(field, []).append(batch[field].numpy())
            if "ce_sum" in outputs and float(outputs["tokens"]) > 0:
                perplexity.update(float(outputs["ce_sum"]), float(outputs["tokens"]))
        collected = {
            key: {m: np.concatenate(parts) for m, parts in value.items()}
            for key, value in rows.items()
        }
        collected.update({field: np.concatenate(parts) for field, parts in labels.items()})
        collected["perplexity"] = perplexity
        return collected


def _model_features(batch, modalities):
    """The numeric features the backbone reads (strings and labels stay outside tf.function)."""
    from mmlm.models import ENCODER_INPUTS

    keys = [name for m in modalities for name in ENCODER_INPUTS[m]]
    keys += [f"{m}_present" for m in modalities]
    return {key: batch[key] for key in keys}


def scene_attribute_prompts(color_names, shape_names, position_names):
    """Prompt sets for zero-shot scene attributes, in the captions' own wording.

    Returns {attribute: (class_names, prompts per class)}: colour of an object is prompted with
    every shape and position of that colour ("a red circle in the top left corner", ...), shape
    with every colour and position, position with every colour and shape, then averaged
    (prompt ensembling).
    """

    def article(word):
        return "an" if word[0] in "aeiou" else "a"

    plain_shapes = [s for s in shape_names if s != "digit"]
    objects = [(c, s, p) for c in color_names for s in plain_shapes for p in position_names]

    def prompts(field, class_names):
        """Per class, the prompt of every object whose `field` (0 colour, 1 shape, 2 position)
        is that class."""
        return [
            [
                f"{article(c)} {c} {s} in the {p} corner"
                for c, s, p in objects
                if (c, s, p)[field] == name
            ]
            for name in class_names
        ]

    return {
        "color": (list(color_names), prompts(0, color_names)),
        "shape": (plain_shapes, prompts(1, plain_shapes)),
        "position": (list(position_names), prompts(2, position_names)),
    }


def zero_shot_report(backbone, text_preprocessor, collected, prompts):
    """Zero-shot classification of the first object's attributes from image and audio.

    Only single-object scenes are scored (the prompt describes one object). `prompts` as
    returned by `scene_attribute_prompts`; labels index the class lists (`object_<attribute>`).
    """
    report = {}
    if "object_color" not in collected:
        return report
    single = collected["object_color"][:, 1] < 0  # the second object slot is padding
    for attribute, (class_names, class_prompts) in prompts.items():
        flat = [p for group in class_prompts for p in group]
        tokens = text_preprocessor(tf.constant(flat))
        embedded = backbone.embed("text", tokens).numpy()  # (C·P, D)
        class_embeddings = class_embeddings_from_prompts(
            embedded.reshape(len(class_names), len(class_prompts[0]), -1)
        )
        labels = collected[f"object_{attribute}"][:, 0]
        if attribute == "shape":
            # Label indices follow the data set's shape list; digits have no plain-shape prompt.
            valid_shape = labels < len(class_names)
        else:
            valid_shape = np.ones_like(labels, dtype=bool)
        for m in ("image", "audio"):
            if m not in collected["embeddings"]:
                continue
            valid = collected["present"][m] & single & valid_shape
            result = zero_shot_classify(
                collected["embeddings"][m], class_embeddings, labels, valid=valid
            )
            result.pop("per_class_accuracy", None)
            report[f"{attribute}_from_{m}"] = result
    return report


def evaluate_backbone(
    backbone, dataset, text_preprocessor=None, prompts=None, max_batches=None, collector=None
):
    """The metrics dict (`num_examples`, `retrieval`, `zero_shot`, `perplexity`) of a data set.

    `collector`: an `EmbeddingCollector` of `backbone` to reuse, so that repeated evaluations
    (every `eval_every` steps of a run) trace its step once rather than at every call.
    """
    if collector is None:
        collector = EmbeddingCollector(backbone)
    elif collector.backbone is not backbone:
        raise ValueError("The collector runs another backbone than the one evaluated.")
    collected = collector.collect(dataset, max_batches)
    num_examples = len(next(iter(collected["embeddings"].values())))
    subsets = None
    if "heldout" in collected:
        heldout = collected["heldout"].astype(bool)
        subsets = {"seen": ~heldout, "heldout": heldout}
    metrics = {
        "num_examples": int(num_examples),
        "retrieval": retrieval_report(collected["embeddings"], collected["present"], subsets),
    }
    if text_preprocessor is not None and prompts and "text" in backbone.modalities:
        metrics["zero_shot"] = zero_shot_report(backbone, text_preprocessor, collected, prompts)
    accumulator = collected["perplexity"]
    if accumulator.total_tokens:
        metrics["perplexity"] = float(accumulator.result())
    return metrics
