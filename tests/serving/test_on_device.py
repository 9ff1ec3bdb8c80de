"""The multi-signature on-device `.tflite` matches the Keras model, captions included."""

import json
import os

import numpy as np

from mmlm.compression.tflite import convert_signatures
from mmlm.data.errors import MediaFileError
from mmlm.serving.on_device_runner import OnDeviceRunner
from mmlm.serving.tflite_runner import TFLiteRunner
from mmlm.testing.media import bomb_png
from mmlm.testing.models import (
    IMAGE_SIZE,
    SAMPLE_RATE,
    SEQUENCE_LENGTH,
    tiny_batch,
    tiny_vocabulary,
)
from mmlm.testing.on_device import CAPTION, OnDeviceTestCase


def _feeds(batch):
    audio_length = np.sum(batch["audio_padding_mask"], axis=1).astype("int32")
    return {
        "embed_text": {"token_ids": batch["token_ids"]},
        "embed_image": {"images": batch["images"]},
        "embed_audio": {"audio": batch["audio"], "audio_length": audio_length},
        "caption": {
            "images": batch["images"],
            "audio": batch["audio"],
            "audio_length": audio_length,
            "image_present": np.array([True]),
            "audio_present": np.array([False]),
        },
    }


class OnDeviceTest(OnDeviceTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.float_content = convert_signatures(cls.module, cls.module.signatures())

    def test_float_signatures_match_keras(self):
        runner = TFLiteRunner(self.float_content)
        self.assertEqual(
            sorted(runner.signatures),
            [
                "caption",
                "caption_prefill",
                "caption_step",
                "embed_audio",
                "embed_image",
                "embed_text",
            ],
        )
        self.assert_builtin_only(self.float_content, "float", present=("FULLY_CONNECTED", "WHILE"))
        functions = {
            "embed_text": self.module.text,
            "embed_image": self.module.image,
            "embed_audio": self.module.audio,
            "caption": self.module.caption,
        }
        for seed in range(2):
            for name, feed in _feeds(tiny_batch(batch_size=1, seed=seed)).items():
                expected = next(iter(functions[name](**feed).values())).numpy()
                if name == "caption":
                    self.assertAllEqual(runner(feed, name), expected)
                else:
                    self.assertAllClose(runner(feed, name), expected, atol=2e-5, msg=name)

    def test_dynamic_int8_captions_with_builtin_ops_only(self):
        content = convert_signatures(self.module, self.module.signatures(), "dynamic")
        self.assert_builtin_only(content, "dynamic int8", present=("FULLY_CONNECTED", "WHILE"))
        runner = TFLiteRunner(content)
        feed = _feeds(tiny_batch(batch_size=1, seed=3))["caption"]
        token_ids = runner(feed, "caption")
        self.assertEqual(token_ids.shape, (1, SEQUENCE_LENGTH))
        self.assertEqual(int(token_ids[0, 0]), CAPTION["start_id"])

    def test_full_int8_calibration_covers_every_signature(self):
        # Image and text embeddings keep their direction in full int8 (text thanks to
        # `FiniteMaskSoftmax`: with Keras' -1e9 mask its cosine to float was about 0.4). The
        # audio embedding does not: the power spectrum spans more decades than 8 bits hold. The
        # compression report measures all three on the trained model.
        names = ("embed_text", "embed_image", "embed_audio")

        def representative():
            for seed in range(8):
                feeds = _feeds(tiny_batch(batch_size=1, seed=seed))
                for name in names:
                    yield name, feeds[name]

        content = convert_signatures(
            self.module, self.module.signatures(names), "int8", representative
        )
        runner = TFLiteRunner(content)
        self.assertEqual(sorted(runner.signatures), sorted(names))
        self.assert_builtin_only(content, "full int8", present=("FULLY_CONNECTED",))
        functions = {"embed_text": self.module.text, "embed_image": self.module.image}
        for seed in (11, 12):
            feeds = _feeds(tiny_batch(batch_size=1, seed=seed))
            for name in names:
                self.assertTrue(np.all(np.isfinite(runner(feeds[name], name))), msg=name)
            for name, function in functions.items():
                expected = function(**feeds[name])["embedding"].numpy()
                cosine = float(np.sum(expected * runner(feeds[name], name)))
                self.assertGreater(cosine, 0.9, name)

    def test_runner_reads_files_with_the_sidecar(self):
        from PIL import Image

        directory = self.get_temp_dir()
        path = os.path.join(directory, "model.tflite")
        with open(path, "wb") as f:
            f.write(self.float_content)
        metadata = {
            "vocabulary": tiny_vocabulary(),
            "lowercase": True,
            "text_length": SEQUENCE_LENGTH,
            "image_size": IMAGE_SIZE,
            "sample_rate": SAMPLE_RATE,
            "num_samples": self.backbone.encoders["audio"].input["audio"].shape[1],
            **{k: CAPTION[k] for k in ("start_id", "end_id", "pad_id")},
        }
        with open(path + ".json", "w") as f:
            json.dump(metadata, f)
        image_path = os.path.join(directory, "image.png")
        Image.fromarray(np.full((IMAGE_SIZE, IMAGE_SIZE, 3), 200, np.uint8)).save(image_path)
        runner = OnDeviceRunner(path)
        embedding = runner.embed_image(image_path)
        expected = self.backbone.embedding_model("image")(
            {"images": np.full((1, IMAGE_SIZE, IMAGE_SIZE, 3), 200 / 255, np.float32)}
        )
        self.assertAllClose(embedding, expected[0], atol=1e-4)
        self.assertAllClose(np.linalg.norm(runner.embed_text("w1 w2")), 1.0, atol=1e-4)
        self.assertIsInstance(runner.caption(image_path=image_path), str)
        bomb_path = os.path.join(directory, "bomb.png")
        with open(bomb_path, "wb") as f:
            f.write(bomb_png())  # 12000 x 12000: refused from its header (default limit)
        with self.assertRaisesRegex(MediaFileError, "bomb.png: image_too_large: 12000 x 12000"):
            runner.embed_image(bomb_path)
        with self.assertRaisesRegex(FileNotFoundError, "mmlm export"):
            OnDeviceRunner(os.path.join(directory, "missing.tflite"))
