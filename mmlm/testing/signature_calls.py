"""Every signature of an mmlm export called in a fresh interpreter that never imports mmlm.

A serving runtime has TensorFlow and TensorFlow Text's ops, nothing else. `call_signatures`
runs `_SCRIPT` with any Python (this venv's, or the TF 2.20 venv of tools/setup_tf220.sh) on
a SavedModel: it calls each signature the model has, feeding every input by name from one set
of inputs (`signature_inputs`), then the `signature_cases` (other files, and inputs past each
limit), and replays the warmup records as TF Serving does. The results come back as JSON, so
runs under different TensorFlow versions can be compared.
"""

import json
import os
import textwrap

import numpy as np

from mmlm.backend import tf
from mmlm.testing.media import bomb_png, header_bomb, image_bytes
from mmlm.testing.processes import environment, run

# The signatures of `mmlm.serving.export` that take text.
TEXT_SIGNATURES = (
    "embed_text",
    "serving_default",
    "generate_from_text",
    "generate",
    "generate_beam",
)

_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import tensorflow as tf
    import tensorflow_text  # registers the WordPiece tokenizer's ops
    from tensorflow_serving.apis import prediction_log_pb2

    path, inputs_path, outputs_path = sys.argv[1:]
    model = tf.saved_model.load(path)
    arrays = np.load(inputs_path, allow_pickle=True)  # byte strings: the test's own file

    def feed(signature, prefix=""):
        # An input is `prefix + name + "." + dtype` if given so (images.float32), else by name.
        values = {}
        for name, spec in signature.structured_input_signature[1].items():
            key = next(k for k in (f"{prefix}{name}.{spec.dtype.name}", f"{prefix}{name}",
                                   f"{name}.{spec.dtype.name}", name) if k in arrays)
            values[name] = tf.constant(arrays[key], spec.dtype)
        return values

    def listed(outputs):
        return {key: [v.decode("utf-8", "backslashreplace") for v in value.numpy()]
                if value.dtype == tf.string else value.numpy().tolist()
                for key, value in outputs.items()}

    results = {"tensorflow": tf.__version__, "tensorflow_text": tensorflow_text.__version__,
               "signatures": sorted(model.signatures), "outputs": {}, "cases": {}}
    for name in sorted(model.signatures):
        signature = model.signatures[name]
        results["outputs"][name] = listed(signature(**feed(signature)))
    for case, signature_name in json.loads(str(arrays["cases.json"])).items():
        signature = model.signatures[signature_name]
        try:
            results["cases"][case] = listed(signature(**feed(signature, f"{case}:")))
        except tf.errors.InvalidArgumentError as error:
            results["cases"][case] = {"error": error.message}
    results["warmup"] = []  # replayed as TF Serving replays them
    for record in tf.data.TFRecordDataset(f"{path}/assets.extra/tf_serving_warmup_requests"):
        request = prediction_log_pb2.PredictionLog.FromString(record.numpy()).predict_log.request
        inputs = {k: tf.constant(tf.make_ndarray(v)) for k, v in request.inputs.items()}
        model.signatures[request.model_spec.signature_name](**inputs)
        results["warmup"].append(request.model_spec.signature_name)
    results["mmlm_imported"] = any(m.startswith("mmlm") for m in sys.modules)
    with open(outputs_path, "w") as f:
        json.dump(results, f)
    """
)


def wav_bytes(samples, sample_rate):
    """A 16-bit mono WAV file of `samples` (N,) float."""
    return tf.audio.encode_wav(tf.constant(samples[:, None], tf.float32), sample_rate).numpy()


def signature_inputs(sample_rate, seed=0):
    """Two rows of every input an mmlm export's signatures take, by input name (`images` is
    uint8; `images.float32` the same pixels in [0, 1] for `embed_image_float`)."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (2, 20, 12, 3)).astype("uint8")
    audio = rng.uniform(-0.5, 0.5, (2, 5000)).astype("float32")
    return {
        "text": np.array([b"w1 w2 w3", b"w7 w4"], object),
        "images": images,
        "images.float32": images.astype("float32") / 255.0,
        "image_bytes": np.array([tf.io.encode_png(image).numpy() for image in images], object),
        "audio": audio,
        # 16-bit WAV rounds the samples: compare against what the file holds.
        "audio_wav": np.array([wav_bytes(a, sample_rate) for a in audio], object),
        "image_present": np.array([True, False]),
        "audio_present": np.array([False, True]),
    }


def signature_cases(max_text_bytes, max_audio_seconds, sample_rate):
    """{case: (signature, {input: array}, what its error must say or None if accepted)}: other
    image files, and inputs past the export's limits (a text row one byte over
    `max_text_bytes` through every text signature, a WAV one sample over `max_audio_seconds`,
    image bombs, a GIF); the other inputs are those of `signature_inputs`."""

    def one(value):
        return np.array([value], object)

    long_wav = wav_bytes(np.zeros(int(max_audio_seconds * sample_rate) + 1, "float32"), sample_rate)
    bomb = "image_too_large: 12000 x 12000 = 144000000 pixels, over the limit of"
    cases = {
        "jpeg": ("embed_image_bytes", {"image_bytes": one(image_bytes("JPEG"))}, None),
        "bmp": ("embed_image_bytes", {"image_bytes": one(image_bytes("BMP"))}, None),
        "gif": (
            "embed_image_bytes",
            {"image_bytes": one(image_bytes("GIF"))},
            "image_bytes: not a PNG, JPEG or BMP file",
        ),
        "png_bomb": ("embed_image_bytes", {"image_bytes": one(bomb_png())}, bomb),
        "jpeg_bomb": ("embed_image_bytes", {"image_bytes": one(header_bomb("JPEG"))}, bomb),
        "bmp_bomb": (
            "embed_image_bytes",
            {"image_bytes": one(header_bomb("BMP", 40000, 40000))},
            "image_too_large: 40000 x 40000 = 1600000000 pixels",
        ),
        "long_wav": ("embed_audio_wav", {"audio_wav": one(long_wav)}, "audio_too_long"),
        "wav_rate": (
            "embed_audio_wav",
            {"audio_wav": one(wav_bytes(np.zeros(99), 22050))},
            f"WAV sample rate is not the {sample_rate} Hz",
        ),
    }
    # A good row, then one a byte over the limit: the error names row 1.
    text = np.array([b"ok", b"a" * (max_text_bytes + 1)], object)
    too_long = (
        f"text_too_long: row 1 holds {max_text_bytes + 1} bytes, over the limit of "
        f"{max_text_bytes} bytes (data.text.max_bytes of the export)"
    )
    for name in TEXT_SIGNATURES:
        cases[f"long_text_{name}"] = (name, {"text": text}, too_long)
    return cases


def check_cases(test, results, cases):
    """Asserts (with `test`, a `TestCase`) that each of `cases` was answered or refused with
    its message in `results` (of `call_signatures`)."""
    test.assertEqual(sorted(cases), sorted(results["cases"]))
    for case, (_, _, error) in cases.items():
        outcome = results["cases"][case]
        if error is None:
            test.assertNotIn("error", outcome, case)
        else:
            test.assertIn(error, outcome.get("error", f"{case} was accepted"), case)


def call_signatures(python, model_path, inputs, cases, directory, timeout=600):
    """Runs every signature of the SavedModel at `model_path` with `python` (see the module
    docstring) in a fresh process; returns its results.

    Args:
        python: the interpreter (it needs tensorflow, tensorflow_text, tensorflow_serving).
        inputs: `signature_inputs()`.
        cases: `signature_cases()`.
        directory: where the inputs and outputs files are written.
    Returns:
        {"tensorflow", "tensorflow_text": versions, "signatures": names, "outputs":
        {signature: {output: list}}, "cases": {case: outputs or {"error": message}},
        "warmup": signature of each record replayed, "mmlm_imported": bool}.
    """
    arrays = dict(inputs)
    for case, (_, values, _) in cases.items():
        arrays.update({f"{case}:{name}": value for name, value in values.items()})
    arrays["cases.json"] = np.array(json.dumps({c: s for c, (s, _, _) in cases.items()}))
    inputs_path = os.path.join(directory, "inputs.npz")
    outputs_path = os.path.join(directory, "outputs.json")
    np.savez(inputs_path, **arrays)
    command = [python, "-c", _SCRIPT, model_path, inputs_path, outputs_path]
    run(command, timeout, env=environment(), what=f"the signatures under {python}")
    with open(outputs_path) as f:
        return json.load(f)
