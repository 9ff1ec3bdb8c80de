"""An ensemble of trained members as one SavedModel with raw-input signatures.

Each member is a `ServingModule` (its own preprocessing and backbone) and, for a
classification ensemble, its classification task. The signatures combine the members in the
graph as `mmlm.evaluation.ensemble` does in NumPy:

    embed_text / embed_image / embed_image_float / embed_audio
        {"embedding": (B, M·D)}: the members' unit embeddings side by side over sqrt(M), so
        dot products are the members' mean cosine similarity.
    classify
        the task modality's raw input → {"logits": (B, C) the members' mean logits,
        "probabilities": their softmax, "member_logits": (M, B, C), and with a stacker
        "stacked_probabilities": softmax(members' probabilities @ W + b)}.
"""

import numpy as np

from mmlm.backend import tf

SIGNATURES = {
    "embed_text": "text string (B,) → embedding (B, M·D), mean cosine over members",
    "embed_image": "images uint8 (B, H, W, 3) → embedding (B, M·D)",
    "embed_image_float": "images float32 (B, H, W, 3) in [0, 1] → embedding (B, M·D)",
    "embed_audio": "audio float32 (B, N) → embedding (B, M·D)",
    "classify": "the task modality's raw input → logits, probabilities, member_logits "
    "[, stacked_probabilities]",
}


class EnsembleModule(tf.Module):
    """Members' serving modules (and classifiers) as the signatures of one SavedModel.

    Args:
        members: `ServingModule`s of the members (same modalities).
        classifiers: for a classification ensemble, each member's task (batch → logits) and
            `modality`, the input it classifies; None for embeddings only.
        modality: the modality the classifiers read.
        stacker: optional (weights (M·C, C), bias (C,)) of a fitted `Stacker`.
    """

    def __init__(self, members, classifiers=None, modality=None, stacker=None, name="ensemble"):
        super().__init__(name=name)
        if not members:
            raise ValueError("an ensemble needs at least one member")
        if classifiers is not None and len(classifiers) != len(members):
            raise ValueError(f"{len(classifiers)} classifiers for {len(members)} members")
        self.members = list(members)
        self.classifiers = None if classifiers is None else list(classifiers)
        self.modality = modality
        self.modalities = tuple(
            m for m in members[0].modalities if all(m in x.modalities for x in members)
        )
        self.stacker = None
        if stacker is not None:
            weights, bias = stacker
            self.stacker = (
                tf.Variable(np.asarray(weights, np.float32), trainable=False, name="stack_w"),
                tf.Variable(np.asarray(bias, np.float32), trainable=False, name="stack_b"),
            )

    def _inputs(self, member, modality, raw):
        if modality == "text":
            return member.text_inputs(raw)
        if modality == "image":
            return member.image_inputs(raw)
        return member.audio_inputs(raw)

    def embed(self, modality, raw):
        parts = [
            tf.math.l2_normalize(
                member.embed(modality, self._inputs(member, modality, raw))["embedding"], -1
            )
            for member in self.members
        ]  # M × (B, D)
        scale = 1.0 / np.sqrt(len(parts))
        return {"embedding": tf.concat(parts, axis=-1) * scale}  # (B, M·D)

    def classify(self, raw):
        member_logits = tf.stack(
            [
                tf.cast(task(self._inputs(member, self.modality, raw), training=False), tf.float32)
                for member, task in zip(self.members, self.classifiers)
            ]
        )  # (M, B, C)
        logits = tf.reduce_mean(member_logits, axis=0)  # (B, C)
        outputs = {
            "logits": logits,
            "probabilities": tf.nn.softmax(logits),
            "member_logits": member_logits,
        }
        if self.stacker is not None:
            weights, bias = self.stacker
            features = tf.concat(tf.unstack(tf.nn.softmax(member_logits)), axis=-1)  # (B, M·C)
            outputs["stacked_probabilities"] = tf.nn.softmax(features @ weights + bias)
        return outputs

    def signatures(self):
        """Signature name → concrete function, for `tf.saved_model.save`."""
        specs = {
            "text": tf.TensorSpec([None], tf.string, name="text"),
            "image": tf.TensorSpec([None, None, None, 3], tf.uint8, name="images"),
            "audio": tf.TensorSpec([None, None], tf.float32, name="audio"),
        }
        functions = {}
        for modality in self.modalities:

            def embed(raw, modality=modality):
                return self.embed(modality, raw)

            functions[f"embed_{modality}"] = tf.function(embed).get_concrete_function(
                specs[modality]
            )
        if "image" in self.modalities:
            images_f32 = tf.TensorSpec([None, None, None, 3], tf.float32, name="images")
            functions["embed_image_float"] = tf.function(
                lambda raw: self.embed("image", raw)
            ).get_concrete_function(images_f32)
        if self.classifiers is not None:
            functions["classify"] = tf.function(self.classify).get_concrete_function(
                specs[self.modality]
            )
        default = "classify" if "classify" in functions else f"embed_{self.modalities[0]}"
        functions["serving_default"] = functions[default]
        return functions


def export_ensemble(module, path):
    """Saves `module`'s signatures as a SavedModel at `path`; returns the path."""
    tf.saved_model.save(module, path, signatures=module.signatures())
    return path
