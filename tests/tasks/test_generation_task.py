"""`GenerationTask`: loss against NumPy, no target leak, source conditioning, round trip, fit."""

import numpy as np

from mmlm.backend import keras, tf
from mmlm.tasks.generation_task import GenerationTask
from mmlm.testing import TestCase
from mmlm.testing.models import SEQUENCE_LENGTH, VOCABULARY_SIZE, tiny_backbone, tiny_batch


def translation_batch(batch_size=3, seed=1):
    """A tiny batch with a second text feature, `text_es`, as the target."""
    batch = tiny_batch(batch_size=batch_size, seed=seed)
    other = tiny_batch(batch_size=batch_size, seed=seed + 10)
    batch["text_es_token_ids"] = other["token_ids"]
    batch["text_es_padding_mask"] = other["padding_mask"]
    return batch


class GenerationTaskTest(TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.backbone = tiny_backbone()

    def test_loss_equals_numpy_cross_entropy(self):
        task = GenerationTask(self.backbone, conditioning=("image",))
        batch = tiny_batch(batch_size=4, present={"image": [True, True, False, True]})
        loss = float(task.compute_losses(batch, training=False)["generation"])
        logits = task(batch)["decoder_logits"].numpy()
        logits -= logits.max(-1, keepdims=True)
        log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
        labels = batch["token_ids"][:, 1:]
        weights = batch["padding_mask"][:, 1:] * batch["image_present"][:, None]
        picked = np.take_along_axis(log_probs, labels[..., None], axis=-1)[..., 0]
        self.assertAllClose(loss, -(picked * weights).sum() / weights.sum(), atol=1e-5)

    def test_the_target_never_reaches_earlier_positions(self):
        for conditioning, source in ((("image",), ""), (("audio",), ""), ((), "text")):
            task = GenerationTask(
                self.backbone, conditioning, source_text=source, target_text="text_es"
            )
            batch = translation_batch()
            changed = dict(batch)
            ids = batch["text_es_token_ids"].copy()
            ids[:, 4:] = (ids[:, 4:] + 7) % VOCABULARY_SIZE  # every target token from 4 on
            changed["text_es_token_ids"] = ids
            before = task(batch)["decoder_logits"].numpy()[:, :4]
            after = task(changed)["decoder_logits"].numpy()[:, :4]
            self.assertAllClose(before, after, atol=1e-5, msg=str(conditioning))

    def test_only_the_conditioning_is_seen(self):
        captioning = GenerationTask(self.backbone, conditioning=("image",), target_text="text_es")
        translation = GenerationTask(
            self.backbone, conditioning=(), source_text="text", target_text="text_es"
        )
        batch = translation_batch()
        changed = dict(batch, token_ids=np.roll(batch["token_ids"], 1, axis=0))
        changed["padding_mask"] = np.roll(batch["padding_mask"], 1, axis=0)
        changed["audio"] = batch["audio"][::-1].copy()
        # Captioning from images ignores the English text and the audio...
        self.assertAllClose(
            captioning(batch)["decoder_logits"], captioning(changed)["decoder_logits"], atol=1e-5
        )
        # ...translation reads the English text.
        self.assertNotAllClose(
            translation(batch)["decoder_logits"], translation(changed)["decoder_logits"]
        )
        inputs = translation.generator_inputs(batch)
        self.assertEqual(set(inputs), {"token_ids", "padding_mask", "text_present"})

    def test_bad_arguments(self):
        with self.assertRaisesRegex(ValueError, "non-text modalities"):
            GenerationTask(self.backbone, conditioning=("text",))
        with self.assertRaisesRegex(ValueError, "conditioning modalities or a source text"):
            GenerationTask(self.backbone, conditioning=())

    def test_config_round_trip(self):
        task = GenerationTask(
            self.backbone, ("image", "audio"), target_text="text_es", clip_global_norm=1.0
        )
        revived = GenerationTask.from_config(task.get_config())
        self.assertEqual(revived.get_config(), task.get_config())

    def test_fit_lowers_the_loss(self):
        task = GenerationTask(tiny_backbone(), conditioning=("audio",))
        task.compile(optimizer=keras.optimizers.Adam(3e-3))
        batch = tiny_batch(batch_size=4)
        history = task.fit(
            tf.data.Dataset.from_tensors(batch).repeat(), steps_per_epoch=12, epochs=1, verbose=0
        )
        after = task.evaluate(tf.data.Dataset.from_tensors(batch), verbose=0, return_dict=True)
        self.assertLess(after["loss"], history.history["loss"][0])
        self.assertEqual(task.loss_weights, {"generation": 1.0})
        self.assertEqual(batch["token_ids"].shape[1], SEQUENCE_LENGTH)
