"""Tests for the distillation losses against NumPy."""

import numpy as np

from mmlm.backend import tf
from mmlm.objectives.distillation import (
    embedding_distillation_loss,
    logit_distillation_loss,
    pairwise_similarity_distillation_losses,
    similarity_distillation_loss,
)
from mmlm.testing import TestCase


def _log_softmax(x):
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


def numpy_kl(teacher_logits, student_logits):
    """KL(softmax(teacher) ‖ softmax(student)) over the last axis, float64."""
    t = _log_softmax(teacher_logits.astype(np.float64))
    s = _log_softmax(student_logits.astype(np.float64))
    return (np.exp(t) * (t - s)).sum(axis=-1)


def unit(rng, shape):
    x = rng.standard_normal(shape)
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def numpy_similarity_kl(sa, sb, ta, tb, scale, valid, temperature):
    """The relational loss with invalid rows dropped (not masked): an independent reference."""
    sa, sb, ta, tb = (x[valid].astype(np.float64) for x in (sa, sb, ta, tb))
    s = scale / temperature
    forward = numpy_kl(s * ta @ tb.T, s * sa @ sb.T)
    backward = numpy_kl(s * tb @ ta.T, s * sb @ sa.T)
    return float(np.mean((forward + backward) / 2) * temperature**2)


class EmbeddingDistillationTest(TestCase):
    def test_matches_numpy(self):
        rng = np.random.default_rng(0)
        student = 3.0 * rng.standard_normal((5, 6)).astype(np.float32)  # normalized inside
        teacher = unit(rng, (5, 6))
        valid = np.array([True, False, True, True, False])
        s = student / np.linalg.norm(student, axis=-1, keepdims=True)
        expected = np.mean(1.0 - (s * teacher).sum(-1)[valid])
        loss = embedding_distillation_loss(student, teacher, valid)
        self.assertEqual((loss.dtype, loss.shape), (tf.float32, ()))
        self.assertAllClose(expected, loss, atol=1e-6)
        # Equal to half the squared distance of the normalized embeddings.
        expected_mse = 0.5 * np.mean(((s - teacher) ** 2).sum(-1)[valid])
        self.assertAllClose(expected_mse, loss, atol=1e-6)
        self.assertAllClose(0.0, embedding_distillation_loss(teacher, teacher), atol=1e-6)

    def test_teacher_gets_no_gradient_and_no_rows_is_zero(self):
        rng = np.random.default_rng(1)
        student, teacher = tf.constant(unit(rng, (4, 3))), tf.constant(unit(rng, (4, 3)))
        with tf.GradientTape(persistent=True) as tape:
            tape.watch([student, teacher])
            loss = embedding_distillation_loss(student, teacher)
            none = embedding_distillation_loss(student, teacher, np.zeros(4, bool))
        self.assertIsNone(tape.gradient(loss, teacher))
        self.assertEqual(float(none), 0.0)
        self.assertAllEqual(np.zeros((4, 3)), tape.gradient(none, student))

    def test_width_mismatch_is_a_clear_error(self):
        with self.assertRaisesRegex(ValueError, "linear map"):
            embedding_distillation_loss(np.ones((2, 4), np.float32), np.ones((2, 8), np.float32))


class SimilarityDistillationTest(TestCase):
    def test_matches_numpy_with_different_widths(self):
        rng = np.random.default_rng(2)
        sa, sb = unit(rng, (6, 4)), unit(rng, (6, 4))
        ta, tb = unit(rng, (6, 9)), unit(rng, (6, 9))
        valid = np.array([True, True, False, True, True, False])
        for temperature in (1.0, 2.0):
            expected = numpy_similarity_kl(sa, sb, ta, tb, 10.0, valid, temperature)
            loss = similarity_distillation_loss(sa, sb, ta, tb, 10.0, valid, temperature)
            self.assertEqual((loss.dtype, loss.shape), (tf.float32, ()))
            self.assertAllClose(expected, loss, rtol=1e-4)

    def test_same_similarities_is_zero(self):
        """Any rotation of the teacher's space is a perfect student: only similarities count."""
        rng = np.random.default_rng(3)
        ta, tb = unit(rng, (5, 4)), unit(rng, (5, 4))
        rotation, _ = np.linalg.qr(rng.standard_normal((4, 4)))
        sa, sb = (ta @ rotation).astype(np.float32), (tb @ rotation).astype(np.float32)
        loss = similarity_distillation_loss(sa, sb, ta, tb, 20.0, temperature=2.0)
        self.assertAllClose(0.0, loss, atol=1e-5)

    def test_no_valid_row_is_finite_zero(self):
        rng = np.random.default_rng(4)
        sa, sb = tf.constant(unit(rng, (3, 4))), tf.constant(unit(rng, (3, 4)))
        with tf.GradientTape() as tape:
            tape.watch(sa)
            loss = similarity_distillation_loss(sa, sb, sa, sb, 10.0, np.zeros(3, bool))
        self.assertEqual(float(loss), 0.0)
        self.assertAllEqual(np.zeros((3, 4)), tape.gradient(loss, sa))

    def test_pairwise_uses_rows_where_both_are_present(self):
        rng = np.random.default_rng(5)
        names = ("text", "image", "audio")
        student = {m: unit(rng, (4, 4)) for m in names}
        teacher = {m: unit(rng, (4, 6)) for m in names}
        present = {"text": [True] * 4, "image": [True, False, True, True], "audio": [True] * 4}
        present = {m: np.array(v) for m, v in present.items()}
        losses = pairwise_similarity_distillation_losses(student, teacher, present, 10.0, 2.0)
        self.assertEqual(list(losses), ["text_image", "text_audio", "image_audio"])
        for name, value in losses.items():
            a, b = name.split("_")
            valid = present[a] & present[b]
            args = (student[a], student[b], teacher[a], teacher[b], 10.0, valid, 2.0)
            self.assertAllClose(numpy_similarity_kl(*args), value, rtol=1e-4)
        with self.assertRaisesRegex(ValueError, "no embeddings of modalities"):
            pairwise_similarity_distillation_losses(student, {"text": teacher["text"]}, present, 1)


class LogitDistillationTest(TestCase):
    def random_logits(self, seed, batch=4, length=5, vocabulary=11):
        rng = np.random.default_rng(seed)
        student = (2.0 * rng.standard_normal((batch, length, vocabulary))).astype(np.float32)
        teacher = (3.0 * rng.standard_normal((batch, length, vocabulary))).astype(np.float32)
        lengths = np.array([5, 2, 0, 4])[:batch]  # row 2 has no scored token
        weights = (np.arange(length)[None, :] < lengths[:, None]).astype(np.float32)
        return student, teacher, weights

    def test_matches_numpy(self):
        student, teacher, weights = self.random_logits(6)
        for temperature in (1.0, 2.0, 4.0):
            per_token = numpy_kl(teacher / temperature, student / temperature)
            expected = (per_token * weights).sum() / weights.sum() * temperature**2
            loss = logit_distillation_loss(student, teacher, weights, temperature)
            self.assertEqual((loss.dtype, loss.shape), (tf.float32, ()))
            self.assertAllClose(expected, loss, rtol=1e-5)
            self.assertAllClose(
                loss, logit_distillation_loss(student, teacher, weights > 0, temperature)
            )

    def test_same_logits_is_zero_and_bfloat16_works(self):
        student, _, weights = self.random_logits(7)
        self.assertAllClose(0.0, logit_distillation_loss(student, student, weights, 2.0), atol=1e-6)
        loss = logit_distillation_loss(
            tf.cast(student, tf.bfloat16), tf.cast(student + 1.0, tf.bfloat16), weights, 2.0
        )
        self.assertEqual(loss.dtype, tf.float32)
        self.assertAllClose(0.0, loss, atol=1e-2)  # a constant shift leaves softmax unchanged

    def test_no_tokens_is_zero_with_finite_gradients(self):
        student, teacher, weights = self.random_logits(8)
        student = tf.constant(student)
        with tf.GradientTape() as tape:
            tape.watch(student)
            loss = logit_distillation_loss(student, teacher, np.zeros_like(weights), 2.0)
        self.assertEqual(float(loss), 0.0)
        self.assertAllEqual(np.zeros(student.shape), tape.gradient(loss, student))

    def test_vocabulary_mismatch_is_a_clear_error(self):
        with self.assertRaisesRegex(ValueError, "one vocabulary"):
            logit_distillation_loss(np.zeros((1, 2, 5)), np.zeros((1, 2, 6)), np.ones((1, 2)))
