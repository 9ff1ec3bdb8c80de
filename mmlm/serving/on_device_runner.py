"""On-device inference: a `.tflite` (+ its `.json` sidecar) run with ai-edge-litert.

This is what `mmlm tflite-run` does and what device code reimplements: read text, image and
audio files, preprocess them as the model was trained (the sidecar has the vocabulary and
sizes), run the signatures, compare embeddings and decode captions.
"""

import hashlib
import json
import os

import numpy as np

from mmlm.config.data import DEFAULT_MAX_AUDIO_SECONDS, DEFAULT_MAX_PIXELS
from mmlm.data.example_files import read_audio_file, read_image_file
from mmlm.serving.tflite_runner import TFLiteRunner


class OnDeviceRunner:
    """Embeds and captions with an exported `.tflite`.

    Args:
        path: the `.tflite` file; `path + ".json"` must sit next to it (`mmlm export` writes
            both). Its `max_pixels` and `max_audio_seconds` (the config's limits; the defaults
            when absent) bound the files read.
        num_threads: interpreter threads.
    """

    def __init__(self, path, num_threads=1):
        sidecar = path + ".json"
        for required in (path, sidecar):
            if not os.path.isfile(required):
                raise FileNotFoundError(
                    f"{required} is missing; `mmlm export --format tflite --out {path}` writes "
                    "the model and its preprocessing JSON"
                )
        with open(sidecar, encoding="utf-8") as f:
            self.metadata = json.load(f)
        with open(path, "rb") as f:
            content = f.read()
        expected = self.metadata.get("tflite_sha256")  # (sidecars before it lack it)
        if expected is not None and hashlib.sha256(content).hexdigest() != expected:
            raise ValueError(
                f"{sidecar} does not belong to {path} (its tflite_sha256 differs: an export "
                f"interrupted between the two files?); rerun `mmlm export --format tflite --out "
                f"{path}`"
            )
        self.runner = TFLiteRunner(content, num_threads=num_threads)
        self._text = None
        self._resize = None

    @property
    def signatures(self):
        return self.runner.signatures

    def _text_preprocessor(self):
        if self._text is None:
            from mmlm.data.preprocessing.text_preprocessor import TextPreprocessor

            m = self.metadata
            self._text = TextPreprocessor(m["vocabulary"], m["text_length"], m["lowercase"])
        return self._text

    def token_ids(self, text):
        return self._text_preprocessor()([text])["token_ids"].numpy()  # (1, L)

    def image(self, path):
        """(1, S, S, 3) float32 in [0, 1] from an image file (resized as in training)."""
        from mmlm.data.preprocessing.image_preprocessor import ImagePreprocessor

        pixels = read_image_file(path, self.metadata.get("max_pixels", DEFAULT_MAX_PIXELS))
        if self._resize is None:
            self._resize = ImagePreprocessor(image_size=self.metadata["image_size"])
        return self._resize(pixels[None]).numpy()

    def audio(self, path):
        """((1, N) float32 zero-padded waveform, (1,) int32 length) at the model's rate."""
        max_seconds = self.metadata.get("max_audio_seconds", DEFAULT_MAX_AUDIO_SECONDS)
        waveform = read_audio_file(path, self.metadata["sample_rate"], max_seconds)  # resampled
        num_samples = self.metadata["num_samples"]
        waveform = waveform[:num_samples]
        padded = np.zeros((1, num_samples), np.float32)
        padded[0, : len(waveform)] = waveform
        return padded, np.array([len(waveform)], np.int32)

    def embed_text(self, text):
        return self.runner({"token_ids": self.token_ids(text)}, "embed_text")[0]

    def embed_image(self, path):
        return self.runner({"images": self.image(path)}, "embed_image")[0]

    def embed_audio(self, path):
        audio, length = self.audio(path)
        return self.runner({"audio": audio, "audio_length": length}, "embed_audio")[0]

    def caption(self, image_path=None, audio_path=None):
        """Greedy caption from an image and/or an audio file (needs the caption signature)."""
        if "caption" not in self.signatures:
            raise ValueError(
                f"this .tflite has no caption signature ({list(self.signatures)}); full-integer "
                "int8 exports leave it out — export with --quantize dynamic for captions"
            )
        if image_path is None and audio_path is None:
            raise ValueError("caption needs an image or an audio file")
        size, num_samples = self.metadata["image_size"], self.metadata["num_samples"]
        images = self.image(image_path) if image_path else np.zeros((1, size, size, 3), "float32")
        if audio_path:
            audio, length = self.audio(audio_path)
        else:
            audio, length = np.zeros((1, num_samples), "float32"), np.array([0], "int32")
        feed = {
            "images": images,
            "audio": audio,
            "audio_length": length,
            "image_present": np.array([image_path is not None]),
            "audio_present": np.array([audio_path is not None]),
        }
        if "caption_step" in self.signatures:  # one cached decoder position per token
            token_ids = self._step_caption(feed)
        else:
            token_ids = self.runner(feed, "caption")
        return self._text_preprocessor().detokenize(token_ids).numpy()[0].decode("utf-8")

    def _step_caption(self, feed):
        from mmlm.serving.step_decoding import greedy_steps

        def call(signature):
            return lambda inputs: self.runner(inputs, signature)

        details = self.runner.input_details("caption_step")
        ids = {k: self.metadata[k] for k in ("start_id", "end_id", "pad_id")}
        max_length = int(details["self_key_0"]["shape"][1])
        prefill, step = call("caption_prefill"), call("caption_step")
        return greedy_steps(prefill, step, feed, max_length, **ids)


def similarity_table(embeddings):
    """Cosine similarities between labelled unit embeddings, as printable lines."""
    labels = list(embeddings)
    width = max(len(label) for label in labels)
    lines = [" " * width + "  " + "  ".join(f"{i:>6d}" for i in range(len(labels)))]
    for i, a in enumerate(labels):
        row = "  ".join(f"{float(np.dot(embeddings[a], embeddings[b])):6.3f}" for b in labels)
        lines.append(f"{a:<{width}}  {row}   [{i}]")
    return lines
