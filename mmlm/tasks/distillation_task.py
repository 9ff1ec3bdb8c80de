"""Distillation: a student backbone trained on its pretraining objectives and a frozen teacher."""

from mmlm.backend import keras, register, tf
from mmlm.objectives.distillation import (
    embedding_distillation_loss,
    logit_distillation_loss,
    pairwise_similarity_distillation_losses,
)
from mmlm.tasks.pretraining_task import PretrainingTask, captioning_targets

DISTILLATION_TERMS = ("embedding_distillation", "similarity_distillation", "logit_distillation")


@register
class DistillationTask(PretrainingTask):
    """A student `MultimodalBackbone` learning from its pretraining objectives and a teacher.

    The loss is the `PretrainingTask` sum plus, with their own weights:

    - `embedding_distillation`: 1 - cos between the student's and the teacher's embedding of
      each present modality of each row (mean over modalities). When the embedding widths
      differ, a learned linear map per modality (part of this task, not of the student's
      backbone) takes the student's embedding to the teacher's width first.
    - `similarity_distillation`: KL(teacher ‖ student) of the in-batch text↔image, text↔audio
      and image↔audio similarity distributions (mean over pairs), both at the student's current
      InfoNCE scale (held constant here) softened by `distillation_temperature`. Width-free.
    - `logit_distillation`: KL(teacher ‖ student) of the decoders' next-token distributions at
      the captioning loss's scored positions, softened by `distillation_temperature`.

    The teacher sees exactly the student's inputs (the same random modality dropout). It is
    frozen: run with `training=False`, non-trainable (so outside the optimizer and the
    gradients), and not part of `self.backbone`, which is what gets saved. Checkpoints hold it
    too, so a resumed run restores it unchanged.

    Args:
        backbone: the student `MultimodalBackbone`.
        teacher: a trained `MultimodalBackbone` with every modality of the student, the same
            input shapes and the same vocabulary.
        loss_weights: the student's pretraining term weights (see `PretrainingTask`).
        distillation_weights: {term: weight} for `DISTILLATION_TERMS`; missing or 0 disables
            a term. `logit_distillation` is dropped if the student has no decoder;
            `similarity_distillation` if it has one modality.
        distillation_temperature: softening temperature T of the similarity and logit terms
            (their KL is multiplied by T²).
        **kwargs: `PretrainingTask` arguments (initial_temperature, max_logit_scale,
            caption_modality_dropout, accumulation_steps, clip_global_norm, name).

    Example:

    ```python
    teacher = mmlm.experiments.artifacts.load_backbone("runs/scenes_base")
    task = DistillationTask(
        student_backbone,
        teacher,
        loss_weights={"contrastive": 1.0, "captioning": 1.0},
        distillation_weights={"embedding_distillation": 1.0, "logit_distillation": 1.0},
    )
    ```
    """

    DECODER_TERMS = ("captioning", "logit_distillation")

    def __init__(
        self,
        backbone,
        teacher,
        loss_weights,
        distillation_weights,
        distillation_temperature=2.0,
        **kwargs,
    ):
        distillation = _active_distillation_weights(distillation_weights, backbone)
        if teacher is backbone:
            raise ValueError("The teacher must be a separate model from the student's backbone.")
        check_teacher(backbone, teacher)
        if distillation_temperature <= 0:
            raise ValueError(
                f"distillation_temperature must be > 0, got {distillation_temperature}."
            )
        if "logit_distillation" in distillation and teacher.text_decoder is None:
            raise ValueError(
                "logit_distillation needs a teacher with a text decoder; this one has none "
                "(set its weight to 0)."
            )
        clash = sorted(set(loss_weights) & set(distillation))
        if clash:
            raise ValueError(f"loss_weights holds distillation terms {clash}.")
        super().__init__(backbone, {**loss_weights, **distillation}, **kwargs)
        self.requested_loss_weights = dict(loss_weights)
        self.distillation_weights = dict(distillation_weights)
        self.distillation_temperature = float(distillation_temperature)
        teacher.trainable = False
        self.teacher = teacher
        maps = {}
        if "embedding_distillation" in distillation and (
            teacher.embedding_dim != backbone.embedding_dim
        ):
            maps = {
                m: keras.layers.Dense(
                    teacher.embedding_dim,
                    use_bias=False,
                    dtype="float32",
                    name=f"{m}_embedding_map",
                )
                for m in backbone.modalities
            }
        self.embedding_maps = maps

    def compute_losses(self, batch, training):
        """The pretraining terms and the distillation terms of a batch.

        Args:
            batch: a dict batch (see `PretrainingTask`).
            training: whether the student runs in training mode (the teacher never does).

        Returns:
            {term: float32 scalar} for every active term.
        """
        inputs = self.backbone_inputs(batch, training)  # once: the same for both models
        rows = self.decoded_rows(inputs, training)  # the teacher decodes the same rows
        outputs = self.training_outputs(self.backbone, inputs, rows, training)
        losses = super().compute_losses(batch, training, outputs=outputs)
        teacher_outputs = self.training_outputs(self.teacher, inputs, rows, training=False)
        losses.update(self._distillation_losses(batch, outputs, teacher_outputs))
        return losses

    def _distillation_losses(self, batch, outputs, teacher_outputs):
        """The active distillation terms of a batch from both models' outputs."""
        weights, temperature = self.loss_weights, self.distillation_temperature
        present = {m: tf.cast(batch[f"{m}_present"], tf.bool) for m in self.modalities}
        student = {m: outputs[f"{m}_embedding"] for m in self.modalities}
        teacher = {m: teacher_outputs[f"{m}_embedding"] for m in self.modalities}
        losses = {}
        if "embedding_distillation" in weights:
            per_modality = [
                embedding_distillation_loss(self._mapped(m, student[m]), teacher[m], present[m])
                for m in self.modalities
            ]
            losses["embedding_distillation"] = tf.add_n(per_modality) / len(per_modality)
        if "similarity_distillation" in weights:
            # The scale is the student's, held constant: the distillation term must not move
            # the InfoNCE temperature (flattening both distributions would shrink the KL).
            scale = tf.stop_gradient(self._logit_scale())
            pairs = pairwise_similarity_distillation_losses(
                student, teacher, present, scale, temperature
            )
            losses["similarity_distillation"] = tf.add_n(list(pairs.values())) / len(pairs)
        if "logit_distillation" in weights:
            logits = outputs["decoder_logits"]
            _, token_weights = captioning_targets(batch, self.modalities, rows=tf.shape(logits)[0])
            losses["logit_distillation"] = logit_distillation_loss(
                logits,
                teacher_outputs["decoder_logits"],
                token_weights,
                temperature,
            )
        return losses

    def _mapped(self, modality, embedding):
        """The student's embedding at the teacher's width (itself when the widths match)."""
        if modality not in self.embedding_maps:
            return embedding
        return self.embedding_maps[modality](tf.cast(embedding, tf.float32))

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "teacher": keras.saving.serialize_keras_object(self.teacher),
                "distillation_weights": self.distillation_weights,
                "distillation_temperature": self.distillation_temperature,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["teacher"] = keras.saving.deserialize_keras_object(config["teacher"])
        return super().from_config(config)


def check_teacher(student, teacher):
    """Raises a ValueError naming what makes `teacher` unable to teach `student`.

    The teacher must have every modality of the student, read inputs of the same shapes (text
    length, image size, audio samples) and share the student's vocabulary.

    Args:
        student: the student `MultimodalBackbone`.
        teacher: the teacher `MultimodalBackbone`.
    """
    missing = sorted(set(student.modalities) - set(teacher.modalities))
    if missing:
        raise ValueError(
            f"The teacher has no {missing} encoder(s): it has {list(teacher.modalities)}, the "
            f"student needs {list(student.modalities)}."
        )
    for name, tensor in student.input.items():
        if name not in teacher.input:
            continue  # a decoder input the teacher lacks: `logit_distillation` checks it
        theirs, ours = teacher.input[name].shape[1:], tensor.shape[1:]
        if theirs != ours:
            raise ValueError(
                f"Teacher input {name!r} has shape {theirs}, the student's {ours}: both must "
                "read the same data (text length, image size, audio samples)."
            )
    for part in ("text_encoder", "text_decoder"):
        ours, theirs = getattr(student, part), getattr(teacher, part)
        if ours is not None and theirs is not None:
            if ours.vocabulary_size != theirs.vocabulary_size:
                raise ValueError(
                    f"Teacher and student vocabularies differ: the teacher's {part} has "
                    f"{theirs.vocabulary_size} tokens, the student's {ours.vocabulary_size}. "
                    "Distil on the data (and vocabulary) the teacher was trained on."
                )


def _active_distillation_weights(weights, backbone):
    """The non-zero distillation weights that `backbone` supports."""
    unknown = sorted(set(weights) - set(DISTILLATION_TERMS))
    if unknown:
        raise ValueError(f"Unknown distillation terms {unknown}; valid: {DISTILLATION_TERMS}.")
    active = {term: float(weight) for term, weight in weights.items() if weight}
    if backbone.text_decoder is None:
        active.pop("logit_distillation", None)
    if len(backbone.modalities) < 2:
        active.pop("similarity_distillation", None)
    if not active:
        raise ValueError(
            f"DistillationTask needs a non-zero weight for one of {DISTILLATION_TERMS} that the "
            f"student supports, got {weights}."
        )
    return active
