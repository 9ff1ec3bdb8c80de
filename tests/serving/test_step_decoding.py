"""The on-device prefill/step captioner: builtin ops, and the SavedModel's greedy captions."""

import numpy as np

from mmlm.compression.tflite import convert_signatures
from mmlm.generation import Generator
from mmlm.serving.on_device import length_mask
from mmlm.serving.step_decoding import greedy_steps
from mmlm.serving.tflite_runner import TFLiteRunner
from mmlm.testing.models import tiny_batch
from mmlm.testing.on_device import CAPTION, OnDeviceTestCase, cast_to_inputs

NAMES = ("caption_prefill", "caption_step")


def caption_feed(seed, image_present=True, audio_present=True):
    batch = tiny_batch(batch_size=1, seed=seed)
    return {
        "images": batch["images"],
        "audio": batch["audio"],
        "audio_length": np.sum(batch["audio_padding_mask"], axis=1).astype("int32"),
        "image_present": np.array([image_present]),
        "audio_present": np.array([audio_present]),
    }


def generator_tokens(generator, feed):
    """What the SavedModel's `caption` signature computes (its `Generator`, greedy)."""
    inputs = dict(feed)
    length = inputs.pop("audio_length")
    inputs["audio_padding_mask"] = length_mask(length, feed["audio"].shape[1])
    return generator(inputs)["token_ids"].numpy()


class StepDecodingTest(OnDeviceTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.generator = Generator(cls.backbone, **CAPTION)
        cls.content = convert_signatures(cls.module, cls.module.signatures(NAMES))

    def decode(self, prefill, step, feed):
        return greedy_steps(prefill, step, feed, **CAPTION)

    def test_float_tflite_matches_the_saved_model_greedy_captions(self):
        # The cache write is a builtin op; the loop is the device's (no WHILE).
        names = self.assert_builtin_only(self.content, present=("DYNAMIC_UPDATE_SLICE",))
        self.assertNotIn("WHILE", names)
        runner = TFLiteRunner(self.content)
        self.assertEqual(sorted(runner.signatures), list(NAMES))

        def tflite(name):
            return lambda feed: runner.runner(name)(**cast_to_inputs(runner, name, feed))

        presence = [(True, True), (True, False), (False, True)]
        for seed, (image, audio) in enumerate(presence):
            feed = caption_feed(seed, image, audio)
            expected = generator_tokens(self.generator, feed)
            keras = self.decode(
                _eager(self.module.caption_prefill), _eager(self.module.caption_step), feed
            )
            actual = self.decode(tflite("caption_prefill"), tflite("caption_step"), feed)
            self.assertAllEqual(keras, expected, msg=f"seed {seed}")
            self.assertAllEqual(actual, expected, msg=f"seed {seed}")

    def test_step_logits_match_keras(self):
        runner = TFLiteRunner(self.content)
        feed = caption_feed(7)
        prefill = runner.runner("caption_prefill")(
            **cast_to_inputs(runner, "caption_prefill", feed)
        )
        expected_prefill = _eager(self.module.caption_prefill)(feed)
        for name, value in expected_prefill.items():
            self.assertAllClose(prefill[name], value, atol=1e-4, msg=name)
        step_feed = {k: v for k, v in prefill.items() if k != "token"}
        step_feed.update(token=prefill["token"], index=np.array([1], np.int32))
        actual = runner.runner("caption_step")(**cast_to_inputs(runner, "caption_step", step_feed))
        expected = _eager(self.module.caption_step)(step_feed)
        self.assertAllClose(actual["logits"], expected["logits"], atol=1e-4)
        self.assertAllClose(actual["self_key_0"], expected["self_key_0"], atol=1e-4)


def _eager(function):
    def call(feed):
        return {k: v.numpy() for k, v in function(**feed).items()}

    return call
