"""A small SavedModel with the signatures of mmlm's exporter, and a server for it, for tests.

`build_toy_saved_model` writes in a second what `mmlm export` writes after training: the same
signature names, input names, dtypes and batch-major shapes (see `mmlm.serving`), computed by
simple functions (hashes, means) instead of the multimodal model, so that server tests do not
depend on a trained model.
"""

import contextlib
import os
import shutil
import time

import numpy as np

from mmlm.backend import tf
from mmlm.config.data import DEFAULT_MAX_PIXELS, DEFAULT_MAX_TEXT_BYTES
from mmlm.serving.image_decoding import decode_image
from mmlm.serving.model_manager import load_and_warm_up
from mmlm.serving.server import ServerConfig, build_manager
from mmlm.serving.server_thread import ServerThread
from mmlm.serving.text_limits import limit_text
from mmlm.serving.warmup import write_warmup_requests

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
    `raw_bytes` (always base64 in JSON) and counts the rows it saw in `echo_rows`.

    Args:
        scale: multiplies the text embedding (tells versions of a model apart).
        input_checks: whether `embed_text` and `embed_image_bytes` check their inputs' sizes
            (`data.text.max_bytes`, `data.image.max_pixels` at their defaults) as the
            exporter's signatures do; False: as exports made before the checks existed.
    """

    def __init__(self, scale=1.0, input_checks=True):
        super().__init__()
        self.input_checks = input_checks
        self.scale = tf.Variable(float(scale))  # a variable, as a real model has
        self.echo_rows = tf.Variable(0, dtype=tf.int64)

    @tf.function(input_signature=[_spec([None], tf.string, "text")])
    def embed_text(self, text):
        if self.input_checks:  # as the exporter's
            text = limit_text(text, DEFAULT_MAX_TEXT_BYTES)
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
            if self.input_checks:  # as the exporter's, size checked
                image = decode_image(data, DEFAULT_MAX_PIXELS)
            else:
                image = tf.io.decode_image(data, channels=3, expand_animations=False)
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
        self.echo_rows.assign_add(tf.shape(data, out_type=tf.int64)[0])
        return {"text": tf.identity(data), "raw_bytes": tf.identity(data)}


def toy_warmup_requests():
    """One (signature, inputs) warmup request per signature of the `ToyModel`."""
    image = np.zeros((1, 4, 4, 3), np.uint8)
    audio = np.zeros((1, 16), np.float32)
    text = np.array([b"warm up"], object)
    return [
        ("embed_text", {"text": text}),
        ("embed_image", {"images": image}),
        ("embed_image_float", {"images": image.astype(np.float32)}),
        ("embed_image_bytes", {"image_bytes": np.array([png_bytes([0, 0, 0])], object)}),
        ("embed_audio", {"audio": audio}),
        (
            "caption",
            {
                "images": image,
                "audio": audio,
                "image_present": np.array([True]),
                "audio_present": np.array([True]),
            },
        ),
        ("echo", {"data": text}),
    ]


def build_toy_saved_model(directory, scale=1.0, warmup=False, input_checks=True):
    """Writes the `ToyModel` SavedModel to `directory`; returns `directory`.

    Args:
        scale, input_checks: see `ToyModel`.
        warmup: also write `toy_warmup_requests()` as its TF Serving warmup records.
    """
    model = ToyModel(scale, input_checks)
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
    if warmup:
        write_warmup_requests(directory, toy_warmup_requests())
    return directory


def png_bytes(colour, size=(6, 5)):
    """A PNG image of one `colour` (three uint8 values)."""
    image = np.broadcast_to(np.asarray(colour, np.uint8), size + (3,))
    return tf.io.encode_png(image).numpy()


def add_version(model_path, base, version):
    """Copies the SavedModel `model_path` into `base/VERSION` the way a careful writer does:
    into a temporary directory first, renamed into place once complete. Returns its path."""
    target = os.path.join(base, str(version))
    partial = os.path.join(base, f".partial-{version}")
    shutil.copytree(model_path, partial)
    os.rename(partial, target)
    return target


def wait_until(predicate, timeout=30, interval=0.05, what="the condition"):
    """Polls `predicate()` until it returns something true; returns that, or fails."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"{what} did not hold within {timeout} s")


@contextlib.contextmanager
def running_server(model_path, name=None, loader=load_and_warm_up, **config):
    """A `ServerThread` serving `model_path` on a free loopback port while in the block.

    Args:
        model_path: a SavedModel directory or a model base directory of versions.
        name: the model name (default: the directory name).
        loader: how the `ModelManager` loads a version.
        **config: `ServerConfig` fields (`max_batch_size=4`, `grpc_port=0`, ...).
    """
    config = ServerConfig(**{"port": 0, **config})
    manager = build_manager(model_path, name, config, loader=loader)
    try:
        with ServerThread(manager, config) as server:
            yield server
    finally:
        manager.stop()


@contextlib.contextmanager
def grpc_stubs(address):
    """(PredictionServiceStub, ModelServiceStub) of `tensorflow-serving-api` for `address`, as
    an existing TF Serving client builds them."""
    import grpc
    from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

    with grpc.insecure_channel(address) as channel:
        yield (
            prediction_service_pb2_grpc.PredictionServiceStub(channel),
            model_service_pb2_grpc.ModelServiceStub(channel),
        )


def predict_proto(model, signature, inputs, version=None, label=None):
    """A `tensorflow.serving.PredictRequest` for `inputs` ({name: array or TensorProto})."""
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.model_spec.signature_name = signature
    if version is not None:
        request.model_spec.version.value = version
    if label is not None:
        request.model_spec.version_label = label
    for name, value in inputs.items():
        proto = value if hasattr(value, "tensor_shape") else tf.make_tensor_proto(value)
        request.inputs[name].CopyFrom(proto)
    return request
