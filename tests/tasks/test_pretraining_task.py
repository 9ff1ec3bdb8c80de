"""Tests for `PretrainingTask`: loss terms against NumPy, missing modalities, round trip, fit."""

import numpy as np

from mmlm.backend import keras, tf
from mmlm.tasks.pretraining_task import PretrainingTask, captioning_inputs
from mmlm.testing import TestCase
from mmlm.testing.models import tiny_backbone, tiny_batch

ALL_TERMS = {
    "contrastive": 1.0,
    "masked_lm": 1.0,
    "masked_image": 1.0,
    "masked_audio": 1.0,
    "captioning": 1.0,
}


def _log_softmax(x):
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


def numpy_info_nce(a, b, scale, valid):
    a, b = a[valid], b[valid]
    logits = scale * a @ b.T
    diagonal = np.arange(len(a))
    forward = -_log_softmax(logits)[diagonal, diagonal]
    backward = -_log_softmax(logits.T)[diagonal, diagonal]
    return float(np.mean((forward + backward) / 2))


class PretrainingTaskTest(TestCase):
    def make_task(self, weights=None, **kwargs):
        return PretrainingTask(tiny_backbone(), weights or ALL_TERMS, name="task", **kwargs)

    def test_terms_match_numpy(self):
        task = self.make_task()
        batch = tiny_batch(batch_size=4, present={"image": [True, True, False, True]})
        losses = task.compute_losses(batch, training=False)
        self.assertEqual(set(losses), set(ALL_TERMS))
        outputs = task.backbone(captioning_inputs(batch, task.modalities))
        e = {m: outputs[f"{m}_embedding"].numpy() for m in ("text", "image", "audio")}
        scale = 1.0 / 0.07
        image = np.array([True, True, False, True])
        everyone = np.ones(4, bool)
        expected = np.mean(
            [
                numpy_info_nce(e["text"], e["image"], scale, image),
                numpy_info_nce(e["text"], e["audio"], scale, everyone),
                numpy_info_nce(e["image"], e["audio"], scale, image),
            ]
        )
        self.assertAllClose(losses["contrastive"], expected, rtol=1e-4)
        # Captioning: token cross-entropy of the decoder over the caption shifted by one.
        logits = outputs["decoder_logits"].numpy()
        labels = batch["token_ids"][:, 1:]
        weights = batch["padding_mask"][:, 1:].astype("float32")
        log_probs = np.take_along_axis(_log_softmax(logits), labels[..., None], -1)[..., 0]
        expected = -(log_probs * weights).sum() / weights.sum()
        self.assertAllClose(losses["captioning"], expected, rtol=1e-4)
        for name in ("masked_lm", "masked_image", "masked_audio"):
            self.assertTrue(np.isfinite(losses[name].numpy()) and losses[name] > 0, name)
        self.assertAllClose(task.temperature(), 0.07, rtol=1e-5)

    def test_hard_negative_texts_are_candidates_of_image_and_audio(self):
        task = self.make_task({"contrastive": 1.0})
        batch = tiny_batch(batch_size=4, present={"image": [True, True, False, True]})
        plain = task.compute_losses(batch, training=False)["contrastive"]
        swapped = batch["token_ids"].copy()
        swapped[:, 1] = (swapped[:, 1] + 1) % 20 + 4  # a different second token
        exchanged = batch["token_ids"].copy()
        exchanged[:, [1, 2]] = exchanged[:, [2, 1]]
        sets = {
            "negative": (swapped, np.array([True, False, True, True])),
            "exchange": (exchanged, np.array([False, True, True, False])),
        }
        outputs = task.backbone(captioning_inputs(batch, task.modalities))
        e = {m: outputs[f"{m}_embedding"].numpy() for m in ("text", "image", "audio")}
        scale = 1.0 / 0.07
        image = np.array([True, True, False, True])

        def expected_loss(kinds):
            negatives = [
                task.backbone.embed(
                    "text", {"token_ids": sets[k][0], "padding_mask": batch["padding_mask"]}
                ).numpy()[sets[k][1]]
                for k in kinds
            ]

            def with_negatives(other, valid):
                """InfoNCE text-other, the other's queries also ranking the valid negatives."""
                candidates = np.concatenate([e["text"][valid]] + negatives)
                rows = np.arange(valid.sum())
                other_to_text = -_log_softmax(scale * e[other][valid] @ candidates.T)[rows, rows]
                logits = scale * e["text"][valid] @ e[other][valid].T
                text_to_other = -_log_softmax(logits)[rows, rows]
                return float(np.mean((other_to_text + text_to_other) / 2))

            return np.mean(
                [
                    with_negatives("image", image),
                    with_negatives("audio", np.ones(4, bool)),
                    numpy_info_nce(e["image"], e["audio"], scale, image),
                ]
            )

        losses = {}
        for kinds in (["negative"], ["negative", "exchange"], ["exchange"]):
            with_sets = dict(batch)
            for k in kinds:
                with_sets[f"{k}_token_ids"], with_sets[f"{k}_valid"] = sets[k]
            losses[tuple(kinds)] = task.compute_losses(with_sets, training=False)["contrastive"]
            self.assertAllClose(expected_loss(kinds), losses[tuple(kinds)], rtol=1e-4)
            self.assertGreater(float(losses[tuple(kinds)]), float(plain))
        self.assertGreater(float(losses[("negative", "exchange")]), float(losses[("negative",)]))

    def test_caption_is_hidden_from_fusion(self):
        """The decoder's logits must not depend on the text encoder's view of the caption."""
        task = self.make_task()
        batch = tiny_batch()
        logits = task(batch)["decoder_logits"]
        other = dict(batch)
        other["token_ids"] = batch["token_ids"].copy()
        other["token_ids"][:, -1] = 3  # beyond every decoder input position...
        other["padding_mask"] = batch["padding_mask"]
        again = task(other)["decoder_logits"]
        self.assertAllClose(logits, again, atol=1e-5)

    def test_captioning_batch_fraction_decodes_the_first_rows_in_training(self):
        task = self.make_task(captioning_batch_fraction=0.5)
        every_row = self.make_task()
        batch = tiny_batch(batch_size=4)
        for t in (task, every_row):
            t.compute_losses(batch, training=False)  # builds the heads
        every_row.set_weights(task.get_weights())
        outputs = task.backbone(captioning_inputs(batch, task.modalities))
        labels = batch["token_ids"][:, 1:]
        weights = batch["padding_mask"][:, 1:].astype("float32")
        log_probs = np.take_along_axis(
            _log_softmax(outputs["decoder_logits"].numpy()), labels[..., None], -1
        )[..., 0]

        def cross_entropy(rows):
            return -(log_probs[:rows] * weights[:rows]).sum() / weights[:rows].sum()

        trained = task.compute_losses(batch, training=True)
        self.assertAllClose(cross_entropy(2), trained["captioning"], rtol=1e-4)
        self.assertNotAllClose(cross_entropy(4), trained["captioning"], rtol=1e-3)
        reference = every_row.compute_losses(batch, training=True)
        for term in ("contrastive", "masked_lm", "masked_image", "masked_audio"):
            self.assertAllClose(reference[term], trained[term], rtol=1e-5, msg=term)
        evaluated = task.compute_losses(batch, training=False)  # evaluation captions every row
        self.assertAllClose(cross_entropy(4), evaluated["captioning"], rtol=1e-4)
        with self.assertRaisesRegex(ValueError, r"captioning_batch_fraction .* got 0"):
            self.make_task(captioning_batch_fraction=0)

    def test_weights_select_terms(self):
        task = self.make_task({"contrastive": 1.0, "masked_image": 0.0, "captioning": 2.0})
        self.assertEqual(set(task.loss_weights), {"contrastive", "captioning"})
        self.assertNotIn("masked_image", task.heads)
        text_only = PretrainingTask(tiny_backbone(modalities=("text",)), ALL_TERMS)
        self.assertNotIn("contrastive", text_only.loss_weights)

    def test_config_round_trip(self):
        task = self.make_task(
            accumulation_steps=1, clip_global_norm=1.0, captioning_batch_fraction=0.25
        )
        config = task.get_config()
        revived = PretrainingTask.from_config(config)
        self.assertEqual(revived.get_config(), config)
        self.assertEqual(revived.loss_weights, task.loss_weights)
        self.assertEqual(revived.captioning_batch_fraction, 0.25)

    def test_sigmoid_contrastive_loss(self):
        from mmlm.config import ContrastiveLoss, ObjectiveConfig, load_config
        from mmlm.tasks.builders import _pretraining_arguments
        from tests.objectives.test_sigmoid_contrastive import numpy_sigmoid

        task = self.make_task(
            {"contrastive": 1.0}, contrastive_loss="sigmoid", initial_temperature=0.1
        )
        self.assertAllClose(-10.0, task.logit_bias)  # SigLIP's initialization
        batch = tiny_batch(batch_size=4, present={"image": [True, True, False, True]})
        with tf.GradientTape() as tape:
            loss = task.compute_losses(batch, training=False)["contrastive"]
        # The bias is trained (it has a gradient) and logged beside the temperature.
        self.assertGreater(abs(float(tape.gradient(loss, task.logit_bias))), 0.0)
        self.assertAllClose(-10.0, task.step_metrics()["logit_bias"])
        outputs = task.backbone(captioning_inputs(batch, task.modalities))
        e = {m: outputs[f"{m}_embedding"].numpy() for m in ("text", "image", "audio")}
        image, everyone = np.array([True, True, False, True]), np.ones(4, bool)
        pairs = (("text", "image", image), ("text", "audio", everyone), ("image", "audio", image))
        expected = np.mean([numpy_sigmoid(e[a], e[b], 10.0, -10.0, v) for a, b, v in pairs])
        self.assertAllClose(expected, loss, rtol=1e-4)
        revived = PretrainingTask.from_config(task.get_config())
        self.assertEqual("sigmoid", revived.contrastive_loss)
        self.assertEqual(revived.get_config(), task.get_config())
        with self.assertRaisesRegex(ValueError, "contrastive_loss must be one of .* 'siglip'"):
            PretrainingTask(task.backbone, {"contrastive": 1.0}, contrastive_loss="siglip")
        # The config section selects it (SigLIP's initial values) and keeps InfoNCE by default.
        config = load_config("configs/scenes.py:smoke", ["objective.contrastive_loss=sigmoid"])
        self.assertIs(ObjectiveConfig().contrastive_loss, ContrastiveLoss.INFONCE)
        arguments = _pretraining_arguments(config)
        self.assertEqual("sigmoid", arguments["contrastive_loss"])
        self.assertEqual(
            (0.1, -10.0), (arguments["initial_temperature"], arguments["initial_logit_bias"])
        )

    def test_fit_lowers_the_loss(self):
        task = self.make_task()
        task.compile(optimizer=keras.optimizers.Adam(3e-3))
        batch = tiny_batch(batch_size=4)
        dataset = tf.data.Dataset.from_tensors(batch).repeat()
        history = task.fit(dataset, steps_per_epoch=12, epochs=1, verbose=0)
        before = task.evaluate(tf.data.Dataset.from_tensors(batch), verbose=0, return_dict=True)
        self.assertLess(before["loss"], history.history["loss"][0])
        self.assertIn("temperature", history.history)
        self.assertIn("contrastive_loss", history.history)


class MixedPrecisionTest(TestCase):
    def test_all_terms_finite_under_mixed_bfloat16(self):
        from mmlm.config import Precision, RuntimeConfig
        from mmlm.training.strategy import precision_scope

        with precision_scope(RuntimeConfig(precision=Precision.MIXED_BFLOAT16)):
            task = PretrainingTask(tiny_backbone(), ALL_TERMS, caption_modality_dropout=0.5)
            losses = task.compute_losses(tiny_batch(), training=True)
        self.assertEqual(set(losses), set(ALL_TERMS))
        for name, value in losses.items():
            self.assertEqual(value.dtype, tf.float32, name)
            self.assertTrue(np.isfinite(value.numpy()), name)
