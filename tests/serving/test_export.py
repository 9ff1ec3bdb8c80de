"""The exported SavedModel, loaded in a fresh process without mmlm, equals the Keras model."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np

from mmlm.backend import tf
from mmlm.generation import Generator
from mmlm.serving.export import ServingModule, export_saved_model, special_token_ids
from mmlm.testing import TestCase
from mmlm.testing.media import bomb_png
from mmlm.testing.models import SEQUENCE_LENGTH, tiny_backbone, tiny_preprocessors
from mmlm.testing.processes import environment

# Runs in a fresh interpreter: TensorFlow and TensorFlow Text's ops only, as a serving client.
_LOAD_AND_CALL = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import tensorflow as tf
    import tensorflow_text  # registers the WordPiece tokenizer's ops

    path, inputs_path, outputs_path = sys.argv[1:]
    model = tf.saved_model.load(path)
    inputs = np.load(inputs_path, allow_pickle=True)  # byte strings: our own test file
    calls = {
        "embed_text": {"text": inputs["text"]},
        "embed_image": {"images": inputs["images_u8"]},
        "embed_image_float": {"images": inputs["images_f32"]},
        "embed_image_bytes": {"image_bytes": inputs["png"]},
        "embed_audio": {"audio": inputs["audio"]},
        "embed_audio_wav": {"audio_wav": inputs["wav"]},
        "caption": {name: inputs[name] for name in
                    ("images_u8", "audio", "image_present", "audio_present")},
        "serving_default": {"text": inputs["text"]},
    }
    calls["caption"]["images"] = calls["caption"].pop("images_u8")
    calls["caption_beam"] = calls["caption"]
    calls["generate_from_text"] = {"text": inputs["text"]}
    calls["generate"] = {"text": inputs["text"], **calls["caption"]}
    calls["generate_beam"] = calls["generate"]
    results = {"signatures": sorted(model.signatures),
               "mmlm_imported": any(m.startswith("mmlm") for m in sys.modules)}
    for name, feed in calls.items():
        outputs = model.signatures[name](**{k: tf.constant(v) for k, v in feed.items()})
        for key, value in outputs.items():
            value = value.numpy()
            results[f"{name}/{key}"] = (
                [v.decode() for v in value] if value.dtype == object else value.tolist()
            )
    # The warmup records, replayed as TF Serving replays them (its protos, no mmlm).
    from tensorflow_serving.apis import prediction_log_pb2
    results["warmup"] = []
    for record in tf.data.TFRecordDataset(f"{path}/assets.extra/tf_serving_warmup_requests"):
        request = prediction_log_pb2.PredictionLog.FromString(record.numpy()).predict_log.request
        feed = {k: tf.constant(tf.make_ndarray(v)) for k, v in request.inputs.items()}
        model.signatures[request.model_spec.signature_name](**feed)
        results["warmup"].append(request.model_spec.signature_name)
    try:  # a decompression bomb: refused from its header, before decoding
        model.signatures["embed_image_bytes"](image_bytes=tf.constant(inputs["bomb"]))
        results["bomb"] = "decoded"
    except tf.errors.InvalidArgumentError as error:
        results["bomb"] = error.message
    with open(outputs_path, "w") as f:
        json.dump(results, f)
    """
)


def _wav_bytes(samples, sample_rate):
    samples = tf.constant(samples[:, None], tf.float32)
    return tf.audio.encode_wav(samples, sample_rate).numpy()


class SavedModelExportTest(TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.backbone = tiny_backbone()
        cls.preprocessors = tiny_preprocessors()
        cls.module = ServingModule(
            cls.backbone, **cls.preprocessors, caption_max_length=SEQUENCE_LENGTH
        )

    def _inputs(self):
        rng = np.random.default_rng(0)
        sample_rate = self.preprocessors["audio_preprocessor"].sample_rate
        images = rng.integers(0, 256, (2, 20, 12, 3)).astype("uint8")
        audio = rng.uniform(-0.5, 0.5, (2, 5000)).astype("float32")
        return {
            "text": np.array([b"w1 w2 w3", b"w7 w4"], object),
            "images_u8": images,
            "images_f32": images.astype("float32") / 255.0,
            "png": np.array([tf.io.encode_png(image).numpy() for image in images], object),
            "audio": audio,
            # 16-bit WAV rounds the samples: compare against what the file holds.
            "wav": np.array([_wav_bytes(a, sample_rate) for a in audio], object),
            "image_present": np.array([True, False]),
            "audio_present": np.array([False, True]),
        }

    def _expected(self, inputs):
        text = self.preprocessors["text_preprocessor"](inputs["text"])
        images = self.preprocessors["image_preprocessor"](inputs["images_u8"])
        audio = self.preprocessors["audio_preprocessor"](inputs["audio"])
        wav_audio = [tf.audio.decode_wav(w)[0][:, 0] for w in inputs["wav"]]
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
        inputs = self._inputs()
        bomb = np.array([bomb_png()], object)
        np.savez(os.path.join(directory, "inputs.npz"), bomb=bomb, **inputs)
        outputs_path = os.path.join(directory, "outputs.json")
        subprocess.run(
            [sys.executable, "-c", _LOAD_AND_CALL, path, f"{directory}/inputs.npz", outputs_path],
            check=True,
            env=environment(),
            timeout=300,
        )
        with open(outputs_path) as f:
            actual = json.load(f)
        self.assertFalse(actual["mmlm_imported"])
        self.assertIn("image_too_large: 12000 x 12000 = 144000000 pixels", actual["bomb"])
        self.assertIn("over the limit of 40000000 (data.image.max_pixels", actual["bomb"])
        self.assertEqual(actual["signatures"], names)
        self.assertEqual(names, actual["warmup"])  # one record per signature, each replayed
        for key, expected in self._expected(inputs).items():
            self.assertAllClose(np.array(actual[key]), expected, atol=1e-5, msg=key)
        self.assertAllClose(actual["serving_default/embedding"], actual["embed_text/embedding"])
        for name in ("caption", "caption_beam", "generate_from_text", "generate"):
            detokenized = self.preprocessors["text_preprocessor"].detokenize(
                np.array(actual[f"{name}/token_ids"])
            )
            self.assertEqual(actual[f"{name}/text"], [t.decode() for t in detokenized.numpy()])

    def test_wav_at_another_rate_is_rejected(self):
        wav = _wav_bytes(np.zeros(100, "float32"), 22050)
        with self.assertRaisesRegex(tf.errors.InvalidArgumentError, "sample rate"):
            self.module.decode_wavs(tf.constant([wav]))

    def test_image_and_wav_limits(self):
        with self.assertRaisesRegex(tf.errors.InvalidArgumentError, "image_too_large: 12000 x"):
            self.module.decode_images(tf.constant([bomb_png()]))
        limited = ServingModule(
            self.backbone,
            **self.preprocessors,
            caption_max_length=SEQUENCE_LENGTH,
            max_image_pixels=100,
            max_audio_seconds=0.01,
        )
        rate = self.preprocessors["audio_preprocessor"].sample_rate
        limited.decode_wavs(tf.constant([_wav_bytes(np.zeros(int(rate * 0.01), "float32"), rate)]))
        long_wav = _wav_bytes(np.zeros(int(rate * 0.01) + 1, "float32"), rate)
        with self.assertRaisesRegex(tf.errors.InvalidArgumentError, "audio_too_long: .* 0.01 s"):
            limited.decode_wavs(tf.constant([long_wav]))
        png = tf.io.encode_png(tf.zeros([10, 11, 3], tf.uint8))
        with self.assertRaisesRegex(tf.errors.InvalidArgumentError, "11 x 10 = 110 pixels"):
            limited.decode_images(tf.stack([png]))
