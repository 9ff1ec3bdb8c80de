"""MultimodalPreprocessor: raw batches → backbone inputs, absent modalities, presets."""

import os

import numpy as np

from mmlm import preset_files
from mmlm.backend import tf
from mmlm.data.preprocessing.multimodal_preprocessor import MultimodalPreprocessor
from mmlm.testing import TestCase
from mmlm.testing.models import (
    IMAGE_SIZE,
    NUM_SAMPLES,
    SEQUENCE_LENGTH,
    tiny_backbone,
    tiny_preprocessors,
)


def raw_batch():
    rng = np.random.default_rng(0)
    return {
        "text": tf.constant(["w1 w2 w3", "w4"]),
        "image": tf.constant(rng.integers(0, 255, (2, 30, 20, 3)), tf.uint8),
        "audio": tf.constant(rng.uniform(-0.5, 0.5, (2, NUM_SAMPLES // 2)), tf.float32),
        "label": tf.constant([3, 1]),
    }


class MultimodalPreprocessorTest(TestCase):
    def test_outputs_feed_the_backbone(self):
        preprocessor = MultimodalPreprocessor(**tiny_preprocessors())
        outputs = preprocessor(raw_batch())
        self.assertEqual(outputs["token_ids"].shape, (2, SEQUENCE_LENGTH))
        self.assertEqual(outputs["images"].shape, (2, IMAGE_SIZE, IMAGE_SIZE, 3))
        self.assertEqual(outputs["audio"].shape, (2, NUM_SAMPLES))
        # Half of each waveform is real, the rest is padding.
        self.assertAllEqual(np.sum(outputs["audio_padding_mask"], axis=1), [NUM_SAMPLES // 2] * 2)
        self.assertAllEqual(outputs["label"], [3, 1])  # passed through
        for m in ("text", "image", "audio"):
            self.assertAllEqual(outputs[f"{m}_present"], [True, True])
        backbone = tiny_backbone()
        embeddings = {m: backbone.embed(m, outputs) for m in backbone.modalities}
        self.assertEqual(embeddings["audio"].shape, (2, 8))

    def test_absent_modalities_are_marked_and_zero(self):
        preprocessor = MultimodalPreprocessor(**tiny_preprocessors())
        outputs = preprocessor({"image": raw_batch()["image"]})
        self.assertAllEqual(outputs["image_present"], [True, True])
        self.assertAllEqual(outputs["text_present"], [False, False])
        self.assertAllEqual(outputs["audio_present"], [False, False])
        self.assertAllEqual(outputs["padding_mask"], np.zeros((2, SEQUENCE_LENGTH), bool))
        self.assertAllEqual(outputs["audio"], np.zeros((2, NUM_SAMPLES)))
        outputs = preprocessor({"text": tf.constant(["w1", ""])})  # an empty text: absent
        self.assertAllEqual(outputs["text_present"], [True, False])

    def test_tf_data_map_matches_eager(self):
        preprocessor = MultimodalPreprocessor(**tiny_preprocessors())
        batch = raw_batch()
        eager = preprocessor(batch)
        mapped = next(iter(tf.data.Dataset.from_tensor_slices(batch).batch(2).map(preprocessor)))
        self.assertAllCloseNested(eager, mapped)

    def test_serialization(self):
        preprocessor = MultimodalPreprocessor(**tiny_preprocessors())
        revived = self.run_serialization_test(preprocessor)
        self.assertAllCloseNested(preprocessor(raw_batch()), revived(raw_batch()))

    def test_preset_round_trip(self):
        preset = os.path.join(self.get_temp_dir(), "preset")
        preprocessor = MultimodalPreprocessor(**tiny_preprocessors())
        preprocessor.save_to_preset(preset)
        self.assertTrue(os.path.isfile(os.path.join(preset, preset_files.VOCABULARY)))
        revived = MultimodalPreprocessor.from_preset(preset)
        self.assertAllCloseNested(preprocessor(raw_batch()), revived(raw_batch()))

    def test_missing_vocabulary_is_named(self):
        preset = os.path.join(self.get_temp_dir(), "preset")
        MultimodalPreprocessor(**tiny_preprocessors()).save_to_preset(preset)
        os.remove(os.path.join(preset, preset_files.VOCABULARY))
        with self.assertRaisesRegex(preset_files.PresetError, "missing assets/vocabulary.txt"):
            MultimodalPreprocessor.from_preset(preset)

    def test_bad_inputs(self):
        preprocessor = MultimodalPreprocessor(**tiny_preprocessors())
        with self.assertRaisesRegex(ValueError, "none of this preprocessor's modalities"):
            preprocessor({"label": tf.constant([1])})
        with self.assertRaisesRegex(TypeError, "takes a dict"):
            preprocessor(tf.constant(["w1"]))
        with self.assertRaisesRegex(ValueError, "takes batches"):
            preprocessor({"text": tf.constant("w1")})
