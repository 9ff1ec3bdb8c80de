"""Tests for `DistillationTask`: a frozen teacher, the distillation terms, round trip, fit."""

import numpy as np

from mmlm.backend import keras, tf
from mmlm.models import MultimodalBackbone
from mmlm.objectives.distillation import logit_distillation_loss
from mmlm.tasks.distillation_task import DISTILLATION_TERMS, DistillationTask
from mmlm.tasks.pretraining_task import captioning_targets
from mmlm.testing import TestCase
from mmlm.testing.models import tiny_backbone, tiny_batch

# Two modalities keep the models (and the test file) fast; the dropout test needs all three.
MODALITIES = ("text", "image")
PRETRAINING = {"contrastive": 1.0, "masked_lm": 1.0, "masked_image": 1.0, "captioning": 1.0}
DISTILLATION = {term: 1.0 for term in DISTILLATION_TERMS}


def backbone_variant(backbone, weights_from=None, **changes):
    """A backbone with `backbone`'s architecture (sub-configs updated by `changes`)."""
    config = backbone.get_config()
    for key, value in changes.items():
        if key == "embedding_dim":
            config[key] = value
        else:  # "text_encoder.vocabulary_size" style
            part, field = key.split(".")
            config[part]["config"][field] = value
    variant = MultimodalBackbone.from_config(config)
    if weights_from is not None:
        variant.set_weights(weights_from.get_weights())
    return variant


class DistillationTaskTest(TestCase):
    def make_task(self, teacher=None, student=None, **kwargs):
        return DistillationTask(
            student or tiny_backbone(MODALITIES),
            teacher or tiny_backbone(MODALITIES),
            PRETRAINING,
            DISTILLATION,
            name="task",
            **kwargs,
        )

    def test_fit_trains_the_student_only(self):
        task = self.make_task()
        teacher_before = [w.numpy() for w in task.teacher.weights]
        student_before = [w.numpy() for w in task.backbone.weights]
        task.compile(optimizer=keras.optimizers.Adam(1e-2))
        dataset = tf.data.Dataset.from_tensors(tiny_batch(batch_size=4)).repeat()
        history = task.fit(dataset, steps_per_epoch=2, epochs=1, verbose=0)

        teacher_ids = {id(v) for v in task.teacher.weights}
        self.assertFalse(teacher_ids & {id(v) for v in task.trainable_variables})
        self.assertFalse(teacher_ids & {id(v) for v in task.optimizer.variables()})
        for before, after in zip(teacher_before, task.teacher.weights):
            self.assertAllEqual(before, after.numpy())
        changed = [
            not np.array_equal(b, a.numpy()) for b, a in zip(student_before, task.backbone.weights)
        ]
        self.assertGreater(np.mean(changed), 0.5)
        for term in [*PRETRAINING, *DISTILLATION]:
            values = history.history[f"{term}_loss"]
            self.assertTrue(np.all(np.isfinite(values)) and values[0] > 0, term)

    def test_student_equal_to_teacher_has_zero_distillation_loss(self):
        student = tiny_backbone()
        teacher = backbone_variant(student, weights_from=student)
        # Every captioned row drops the image or the audio: zero only if the teacher is given
        # the student's (random) inputs.
        task = self.make_task(teacher, student, caption_modality_dropout=1.0)
        batch = tiny_batch(batch_size=4, present={"image": [True, True, False, True]})
        losses = task.compute_losses(batch, training=True)
        self.assertEqual(set(losses), {*PRETRAINING, *DISTILLATION})
        for term in DISTILLATION:
            self.assertAllClose(0.0, losses[term], atol=1e-5, msg=term)
        self.assertGreater(float(losses["contrastive"]), 0.0)

    def test_logit_term_is_scored_on_the_captioning_positions(self):
        """Evaluation scores every row; training with captioning_batch_fraction 0.5 the first
        half, the same rows in both decoders."""
        task = self.make_task(distillation_temperature=3.0, captioning_batch_fraction=0.5)
        batch = tiny_batch(batch_size=4, present={"image": [True, False, False, True]})
        for training, rows in ((False, 4), (True, 2)):
            inputs = task.backbone_inputs(batch, training=training)
            student, teacher = task.backbone(inputs), task.teacher(inputs)
            _, weights = captioning_targets(batch, task.modalities)
            expected = logit_distillation_loss(
                student["decoder_logits"][:rows],
                teacher["decoder_logits"][:rows],
                weights[:rows],
                3.0,
            )
            losses = task.compute_losses(batch, training=training)
            self.assertAllClose(expected, losses["logit_distillation"], rtol=1e-5, msg=training)

    def test_different_embedding_widths_learn_a_map(self):
        student = tiny_backbone(MODALITIES)
        teacher = backbone_variant(student, embedding_dim=12)
        task = self.make_task(teacher, student)
        self.assertEqual(set(task.embedding_maps), set(MODALITIES))
        losses = task.compute_losses(tiny_batch(), training=False)
        self.assertTrue(np.isfinite(losses["embedding_distillation"].numpy()))
        kernels = {id(layer.kernel) for layer in task.embedding_maps.values()}
        self.assertTrue(kernels <= {id(v) for v in task.trainable_variables})
        self.assertFalse(kernels & {id(v) for v in task.backbone.weights})  # not saved with it

    def test_incompatible_teachers_are_clear_errors(self):
        student = tiny_backbone(MODALITIES)
        bigger_vocabulary = backbone_variant(
            student, **{"text_encoder.vocabulary_size": 60, "text_decoder.vocabulary_size": 60}
        )
        with self.assertRaisesRegex(ValueError, "vocabularies differ.*60 tokens"):
            self.make_task(bigger_vocabulary, student)
        text_only = tiny_backbone(("text",))
        with self.assertRaisesRegex(ValueError, r"no \['image'\] encoder"):
            self.make_task(text_only, student)
        with self.assertRaisesRegex(ValueError, "needs a non-zero weight"):
            DistillationTask(student, student, PRETRAINING, {"logit_distillation": 0})

    def test_config_round_trip(self):
        text = ("text",)  # the cheapest models: a round trip rebuilds both
        task = self.make_task(
            tiny_backbone(text), tiny_backbone(text), distillation_temperature=3.0
        )
        config = task.get_config()
        self.assertEqual(config["loss_weights"], PRETRAINING)
        revived = DistillationTask.from_config(config)
        self.assertEqual(revived.get_config(), config)
        self.assertEqual(revived.loss_weights, task.loss_weights)
        self.assertFalse(revived.teacher.trainable)


class MixedPrecisionTest(TestCase):
    def test_terms_finite_under_mixed_bfloat16(self):
        from mmlm.config import Precision, RuntimeConfig
        from mmlm.training.strategy import precision_scope

        with precision_scope(RuntimeConfig(precision=Precision.MIXED_BFLOAT16)):
            student = tiny_backbone()
            teacher = backbone_variant(student, embedding_dim=12)
            task = DistillationTask(
                student, teacher, PRETRAINING, DISTILLATION, caption_modality_dropout=0.5
            )
            losses = task.compute_losses(tiny_batch(), training=True)
        self.assertEqual(set(losses), {*PRETRAINING, *DISTILLATION})
        for name, value in losses.items():
            self.assertEqual(value.dtype, tf.float32, name)
            self.assertTrue(np.isfinite(value.numpy()), name)
