"""The ensemble SavedModel: its loaded signatures equal the in-memory members combined."""

import numpy as np

from mmlm.backend import keras, tf
from mmlm.evaluation import ensemble as combine
from mmlm.serving.ensemble import EnsembleModule, export_ensemble
from mmlm.serving.export import ServingModule
from mmlm.tasks.classification_task import ClassificationTask
from mmlm.testing import TestCase
from mmlm.testing.models import SEQUENCE_LENGTH, tiny_backbone, tiny_preprocessors

NUM_CLASSES = 3


class EnsembleExportTest(TestCase):
    def test_loaded_ensemble_matches_the_members(self):
        members, tasks = [], []
        for seed in range(2):
            keras.utils.set_random_seed(seed)
            # No text: without a decoder the members build no caption generators (faster).
            backbone = tiny_backbone(modalities=("image",))
            members.append(
                ServingModule(backbone, **tiny_preprocessors(), caption_max_length=SEQUENCE_LENGTH)
            )
            task = ClassificationTask(backbone, "image", NUM_CLASSES, "label")
            task.build_head()
            tasks.append(task)
        rng = np.random.default_rng(0)
        images = rng.integers(0, 256, (12, 20, 12, 3)).astype("uint8")

        def member_logits(raw):
            return [t(m.image_inputs(raw), training=False).numpy() for m, t in zip(members, tasks)]

        stacker = combine.Stacker(NUM_CLASSES).fit(member_logits(images), np.arange(12) % 3)
        module = EnsembleModule(members, tasks, "image", (stacker.weights, stacker.bias))
        loaded = tf.saved_model.load(export_ensemble(module, self.get_temp_dir() + "/ensemble"))

        self.assertEqual(
            {"embed_image", "embed_image_float", "classify", "serving_default"},
            set(loaded.signatures),
        )
        outputs = loaded.signatures["classify"](images=tf.constant(images[:5]))
        logits = member_logits(images[:5])
        np.testing.assert_allclose(
            outputs["logits"], combine.average_logits(logits), rtol=1e-5, atol=1e-5
        )
        np.testing.assert_allclose(outputs["member_logits"], np.stack(logits), atol=1e-5)
        np.testing.assert_allclose(
            outputs["stacked_probabilities"], stacker.probabilities(logits), atol=1e-5
        )
        embedded = loaded.signatures["embed_image"](images=tf.constant(images[:3]))["embedding"]
        expected = combine.similarity_embeddings(
            [m.embed("image", m.image_inputs(images[:3]))["embedding"].numpy() for m in members]
        )
        np.testing.assert_allclose(embedded, expected, atol=1e-5)
        self.assertEqual((3, 2 * 8), tuple(embedded.shape))  # 2 members × embedding_dim 8
