"""The exported SavedModel, loaded in a fresh process without mmlm, equals the Keras model."""

import os
import sys

import numpy as np

from mmlm.backend import tf
from mmlm.config.data import DEFAULT_MAX_AUDIO_SECONDS, DEFAULT_MAX_TEXT_BYTES
from mmlm.generation import Generator
from mmlm.serving.export import ServingModule, export_saved_model, special_token_ids
from mmlm.serving.input_checks import missing_input_checks
from mmlm.serving.model import read_meta_graph
from mmlm.testing import TestCase
from mmlm.testing.media import bomb_png
from mmlm.testing.models import SEQUENCE_LENGTH, tiny_backbone, tiny_preprocessors
from mmlm.testing.signature_calls import (
    call_signatures,
    check_cases,
    signature_cases,
    signature_inputs,
    wav_bytes,
)


class SavedModelExportTest(TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.backbone = tiny_backbone()
        cls.preprocessors = tiny_preprocessors()
        cls.module = ServingModule(
            cls.backbone, **cls.preprocessors, caption_max_length=SEQUENCE_LENGTH
        )

    def _expected(self, inputs):
        text = self.preprocessors["text_preprocessor"](inputs["text"])
        images = self.preprocessors["image_preprocessor"](inputs["images"])
        audio = self.preprocessors["audio_preprocessor"](inputs["audio"])
        wav_audio = [tf.audio.decode_wav(w)[0][:, 0] for w in inputs["audio_wav"]]
        wav_audio = self.preprocessors["audio_preprocessor"](tf.stack(wav_audio))
        embed = self.backbone.embedding_model
        ids = special_token_ids(self.preprocessors["text_preprocessor"])
        greedy = Generator(self.backbone, SEQUENCE_LENGTH, **ids)
        beam = Generator(self.backbone, SEQUENCE_LENGTH, **ids, strategy="beam")
        caption_inputs = {"images": images, **audio}
        caption_inputs["image_present"] = inputs["image_present"]
        caption_inputs["audio_present"] = inputs["audio_present"]
        present = {"text_present": np.array([True, True])}
        return {
            "generate_from_text/token_ids": greedy({**text, **present})["token_ids"],
            "generate/token_ids": greedy({**text, **present, **caption_inputs})["token_ids"],
            **{
                f"generate_beam/{k}": v
                for k, v in beam({**text, **present, **caption_inputs}).items()
            },
            "embed_text/embedding": embed("text")(text),
            "embed_image/embedding": embed("image")({"images": images}),
            "embed_image_float/embedding": embed("image")({"images": images}),
            "embed_image_bytes/embedding": embed("image")({"images": images}),
            "embed_audio/embedding": embed("audio")(audio),
            "embed_audio_wav/embedding": embed("audio")(wav_audio),
            "caption/token_ids": greedy(caption_inputs)["token_ids"],
            **{f"caption_beam/{k}": v for k, v in beam(caption_inputs).items()},
        }

    def test_fresh_process_without_mmlm_matches_keras(self):
        directory = self.get_temp_dir()
        path = os.path.join(directory, "model")
        names = export_saved_model(self.module, path)
        rate = self.preprocessors["audio_preprocessor"].sample_rate
        inputs = signature_inputs(rate)
        cases = signature_cases(DEFAULT_MAX_TEXT_BYTES, DEFAULT_MAX_AUDIO_SECONDS, rate)
        actual = call_signatures(sys.executable, path, inputs, cases, directory)
        self.assertFalse(actual["mmlm_imported"])
        self.assertEqual(actual["signatures"], names)
        self.assertEqual(names, actual["warmup"])  # one record per signature, each replayed
        embed_image = self.backbone.embedding_model("image")
        check_cases(self, actual, cases)  # bombs, GIF, long WAV and text: refused
        meta_graph = read_meta_graph(path)  # the checks are found where the server looks
        self.assertEqual([], missing_input_checks(meta_graph, dict(meta_graph.signature_def)))
        self.assertIn("(data.image.max_pixels", actual["cases"]["png_bomb"]["error"])
        outputs = {
            f"{name}/{key}": value
            for name, values in actual["outputs"].items()
            for key, value in values.items()
        }
        for key, expected in self._expected(inputs).items():
            self.assertAllClose(np.array(outputs[key]), expected, atol=1e-5, msg=key)
        self.assertAllClose(outputs["serving_default/embedding"], outputs["embed_text/embedding"])
        # The BMP case is a 7 x 5 image of one colour (`image_bytes`), decoded losslessly.
        pixels = np.full((1, 5, 7, 3), (10, 200, 30), np.uint8)
        bmp = embed_image({"images": self.preprocessors["image_preprocessor"](pixels)})
        self.assertAllClose(actual["cases"]["bmp"]["embedding"], bmp, atol=1e-5)
        for name in ("caption", "caption_beam", "generate_from_text", "generate"):
            detokenized = self.preprocessors["text_preprocessor"].detokenize(
                np.array(outputs[f"{name}/token_ids"])
            )
            self.assertEqual(outputs[f"{name}/text"], [t.decode() for t in detokenized.numpy()])

    def test_wav_at_another_rate_is_rejected(self):
        wav = wav_bytes(np.zeros(100, "float32"), 22050)
        with self.assertRaisesRegex(tf.errors.InvalidArgumentError, "sample rate"):
            self.module.decode_wavs(tf.constant([wav]))

    def test_image_wav_and_text_limits(self):
        with self.assertRaisesRegex(tf.errors.InvalidArgumentError, "image_too_large: 12000 x"):
            self.module.decode_images(tf.constant([bomb_png()]))
        limited = ServingModule(
            self.backbone,
            **self.preprocessors,
            caption_max_length=SEQUENCE_LENGTH,
            max_image_pixels=100,
            max_audio_seconds=0.01,
            max_text_bytes=10,
        )
        limited.text_inputs(tf.constant(["0123456789", "é" * 5]))  # 10 bytes each
        with self.assertRaisesRegex(
            tf.errors.InvalidArgumentError, "text_too_long: row 1 holds 12 bytes, over the limit"
        ):
            limited.text_inputs(tf.constant(["ok", "é" * 6]))
        rate = self.preprocessors["audio_preprocessor"].sample_rate
        limited.decode_wavs(tf.constant([wav_bytes(np.zeros(int(rate * 0.01), "float32"), rate)]))
        long_wav = wav_bytes(np.zeros(int(rate * 0.01) + 1, "float32"), rate)
        with self.assertRaisesRegex(tf.errors.InvalidArgumentError, "audio_too_long: .* 0.01 s"):
            limited.decode_wavs(tf.constant([long_wav]))
        png = tf.io.encode_png(tf.zeros([10, 11, 3], tf.uint8))
        with self.assertRaisesRegex(tf.errors.InvalidArgumentError, "11 x 10 = 110 pixels"):
            limited.decode_images(tf.stack([png]))
