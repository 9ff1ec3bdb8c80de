"""A small SavedModel with the signatures of mmlm's exporter, and a server for it, for tests.

`build_toy_saved_model` writes in a second what `mmlm export` writes after training: the same
signature names, input names, dtypes and batch-major shapes (see `mmlm.serving`), computed by
simple functions (hashes, means) instead of the multimodal model, so that server tests do not
depend on a trained model.
"""

import contextlib

import numpy as np

from mmlm.backend import tf
from mmlm.config.data import DEFAULT_MAX_PIXELS
from mmlm.serving.image_decoding import decode_image
from mmlm.serving.model import load_model
from mmlm.serving.server import ServerConfig
from mmlm.serving.server_thread import ServerThread

EMBEDDING_DIM = 8


def _spec(shape, dtype, name):
    return tf.TensorSpec(shape, dtype, name=name)


def _mean_colour(images):
    """(B, H, W, 3) float in [0, 1] -> (B, 3): the mean colour, padded to EMBEDDING_DIM."""
    mean = tf.reduce_mean(images, axis=[1, 2])  # (B, 3)
    return {"embedding": tf.pad(mean, [[0, 0], [0, EMBEDDING_DIM - 3]])}


class ToyModel(tf.Module):
    """Signatures shaped like the exporter's: embed_{text,image,image_float,image_bytes,audio}
    and caption (four inputs, two outputs); `echo` returns its string input as `text` and as
    `raw_bytes` (always base64 in JSON)."""

    def __init__(self):
        super().__init__()
        self.scale = tf.Variable(1.0)  # a variable, as a real model has

    @tf.function(input_signature=[_spec([None], tf.string, "text")])
    def embed_text(self, text):
        buckets = tf.strings.to_hash_bucket_fast(text, 2**EMBEDDING_DIM)  # (B,)
        bits = tf.bitwise.right_shift(buckets[:, None], tf.range(EMBEDDING_DIM, dtype=tf.int64))
        return {"embedding": self.scale * tf.cast(tf.bitwise.bitwise_and(bits, 1), tf.float32)}

    @tf.function(input_signature=[_spec([None, None, None, 3], tf.uint8, "images")])
    def embed_image(self, images):
        return _mean_colour(tf.cast(images, tf.float32) / 255.0)

    @tf.function(input_signature=[_spec([None, None, None, 3], tf.float32, "images")])
    def embed_image_float(self, images):
        return _mean_colour(images)

    @tf.function(input_signature=[_spec([None], tf.string, "image_bytes")])
    def embed_image_bytes(self, image_bytes):
        def decode(data):
            image = decode_image(data, DEFAULT_MAX_PIXELS)  # as the exporter's, size checked
            return tf.image.resize(tf.cast(image, tf.float32) / 255.0, [8, 8])

        images = tf.map_fn(decode, image_bytes, fn_output_signature=tf.float32)
        return _mean_colour(images)

    @tf.function(input_signature=[_spec([None, None], tf.float32, "audio")])
    def embed_audio(self, audio):
        stats = tf.stack([tf.reduce_mean(audio, 1), tf.math.reduce_std(audio, 1)], axis=1)
        return {"embedding": tf.pad(stats, [[0, 0], [0, EMBEDDING_DIM - 2]])}

    @tf.function(
        input_signature=[
            _spec([None, None, None, 3], tf.uint8, "images"),
            _spec([None, None], tf.float32, "audio"),
            _spec([None], tf.bool, "image_present"),
            _spec([None], tf.bool, "audio_present"),
        ]
    )
    def caption(self, images, audio, image_present, audio_present):
        words = tf.stack(
            [tf.where(image_present, "image", ""), tf.where(audio_present, "audio", "")], axis=1
        )
        token_ids = tf.stack(
            [tf.cast(image_present, tf.int32), tf.cast(audio_present, tf.int32)], axis=1
        )
        return {
            "text": tf.strings.strip(tf.strings.reduce_join(words, axis=1, separator=" ")),
            "token_ids": token_ids,  # (B, 2)
        }

    @tf.function(input_signature=[_spec([None], tf.string, "data")])
    def echo(self, data):
        return {"text": tf.identity(data), "raw_bytes": tf.identity(data)}


def build_toy_saved_model(directory):
    """Writes the `ToyModel` SavedModel to `directory`; returns `directory`."""
    model = ToyModel()
    names = (
        "embed_text",
        "embed_image",
        "embed_image_float",
        "embed_image_bytes",
        "embed_audio",
        "caption",
        "echo",
    )
    signatures = {name: getattr(model, name) for name in names}
    signatures["serving_default"] = model.embed_text
    tf.saved_model.save(model, directory, signatures=signatures)
    return directory


def png_bytes(colour, size=(6, 5)):
    """A PNG image of one `colour` (three uint8 values)."""
    image = np.broadcast_to(np.asarray(colour, np.uint8), size + (3,))
    return tf.io.encode_png(image).numpy()


@contextlib.contextmanager
def running_server(model_path, name=None, **config):
    """A `ServerThread` serving `model_path` on a free loopback port while in the block.

    Args:
        model_path: a SavedModel directory.
        name: the model name (default: the directory name).
        **config: `ServerConfig` fields (`max_batch_size=4`, `batching=False`, ...).
    """
    server = ServerThread(load_model(model_path, name), ServerConfig(port=0, **config))
    with server:
        yield server
