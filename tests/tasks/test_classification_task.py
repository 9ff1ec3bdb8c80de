"""`ClassificationTask`: loss against NumPy, masked labels, round trip, fit."""

import numpy as np

from mmlm.backend import keras, tf
from mmlm.tasks.classification_task import ClassificationTask
from mmlm.testing import TestCase
from mmlm.testing.models import tiny_backbone, tiny_batch

NUM_CLASSES = 5


def labelled_batch(batch_size=4, seed=0):
    batch = tiny_batch(batch_size=batch_size, seed=seed, present={"audio": [True] * 3 + [False]})
    labels = np.random.default_rng(seed).integers(0, NUM_CLASSES, (batch_size, 2))
    labels[1, 0] = -1  # a row without the label
    batch["label"] = labels.astype("int32")
    return batch


class ClassificationTaskTest(TestCase):
    def test_loss_equals_numpy_over_valid_rows(self):
        task = ClassificationTask(tiny_backbone(), "audio", NUM_CLASSES, "label", dropout=0.0)
        batch = labelled_batch()
        loss = float(task.compute_losses(batch, training=False)["classification"])
        logits = task(batch).numpy().astype("float64")
        log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
        rows = [0, 2]  # row 1 has no label, row 3 no audio
        expected = -np.mean([log_probs[r, batch["label"][r, 0]] for r in rows])
        self.assertAllClose(loss, expected, atol=1e-5)
        self.assertAllEqual(task.labels(batch)[1], [1, 0, 1, 0])

    def test_only_its_modality_is_read(self):
        task = ClassificationTask(tiny_backbone(), "text", NUM_CLASSES, "label")
        batch = labelled_batch()
        changed = dict(batch, images=batch["images"][::-1].copy(), audio=batch["audio"] * 0)
        self.assertAllClose(task(batch), task(changed))

    def test_config_round_trip_and_errors(self):
        task = ClassificationTask(tiny_backbone(), "image", 3, "label", label_index=1)
        revived = ClassificationTask.from_config(task.get_config())
        self.assertEqual(revived.get_config(), task.get_config())
        with self.assertRaisesRegex(ValueError, "num_classes"):
            ClassificationTask(tiny_backbone(), "image", 1, "label")
        with self.assertRaisesRegex(ValueError, "no 'audio' encoder"):
            ClassificationTask(tiny_backbone(("text", "image")), "audio", 3, "label")

    def test_fit_lowers_the_loss(self):
        task = ClassificationTask(tiny_backbone(), "image", NUM_CLASSES, "label")
        task.compile(optimizer=keras.optimizers.Adam(3e-3))
        batch = labelled_batch()
        history = task.fit(
            tf.data.Dataset.from_tensors(batch).repeat(), steps_per_epoch=12, epochs=1, verbose=0
        )
        after = task.evaluate(tf.data.Dataset.from_tensors(batch), verbose=0, return_dict=True)
        self.assertLess(after["loss"], history.history["loss"][0])
