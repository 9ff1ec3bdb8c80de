"""Full-integer quantization with chosen parts left in float (litert-quantizer).

The converter's full int8 (`Quantization.INT8`) quantizes every activation, and the audio
tower does not survive it: the power spectrum of the log-mel frontend spans more decades than
8 bits hold. Here a float `.tflite` (tensor names kept) is quantized by litert-quantizer, the
selective quantizer of LiteRT: every op gets int8 weights and int8 activations (min/max
calibration on representative data) except the ops whose scope matches one of the
`float_scopes` regexes; those stay float32, with QUANTIZE/DEQUANTIZE at the borders. An op's
scope is its output tensor names joined by ";" (e.g.
`audio_embedding_model/audio_encoder/frontend/log_mel_spectrogram/Log;`). Signature inputs and
outputs stay float (as in the converter's full int8), so callers feed the same arrays.

Which scopes stay float is measured, not guessed: docs/performance.md has the per-tower
cosine/SNR against the float `.tflite` with each candidate left float.
"""

import collections
import re

import numpy as np

from mmlm.config.sections import INT8_FLOAT_SCOPES as DEFAULT_FLOAT_SCOPES


def _op_scopes(model):
    """(subgraph name, op scope) of every operator of a litert-quantizer `ModelT`."""
    from litert_quantizer.utils import tfl_flatbuffer_utils

    for subgraph in model.subgraphs:
        name = (subgraph.name or b"").decode()
        for op in subgraph.operators:
            yield name, tfl_flatbuffer_utils.get_op_scope(op, subgraph.tensors)


def check_float_scopes(float_content, float_scopes):
    """Raises if a regex of `float_scopes` matches no op of `float_content` (names kept).

    A mistyped scope would otherwise quantize what it meant to keep float, silently.
    """
    from litert_quantizer.utils import tfl_flatbuffer_utils

    scopes = [scope for _, scope in _op_scopes(tfl_flatbuffer_utils.read_model(float_content))]
    if not any(scopes) or all(scope in ("", ";") for scope in scopes):
        raise ValueError("the float .tflite has no tensor names; convert it with strip_names=False")
    for regex in float_scopes:
        if not any(re.search(regex, scope) for scope in scopes):
            raise ValueError(
                f"float scope {regex!r} matches no operator of the model (scopes are output "
                f"tensor names, e.g. {scopes[len(scopes) // 2]!r})"
            )


def calibration_data(representative_data):
    """signature → list of input dicts, from a callable yielding `(signature, inputs)` pairs."""
    grouped = collections.defaultdict(list)
    for signature, inputs in representative_data():
        grouped[signature].append({name: np.asarray(value) for name, value in inputs.items()})
    if not grouped:
        raise ValueError("the representative data yielded no examples")
    return dict(grouped)


def _io_dtypes(content):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=bytes(content))
    dtypes = {}
    for signature in interpreter.get_signature_list():
        runner = interpreter.get_signature_runner(signature)
        for kind, details in (
            ("input", runner.get_input_details()),
            ("output", runner.get_output_details()),
        ):
            for name, detail in details.items():
                dtypes[(signature, kind, name)] = np.dtype(detail["dtype"]).name
    return dtypes


def _quantizer(float_content, float_scopes):
    """A litert-quantizer `Quantizer`: static int8 everywhere but I/O and `float_scopes`."""
    from litert_quantizer import quantizer
    from litert_quantizer.algorithm_manager import AlgorithmName
    from litert_quantizer.recipe import TFLOperationName

    model = quantizer.Quantizer(bytearray(float_content))
    model.add_static_config(".*", TFLOperationName.ALL_SUPPORTED, 8, 8)
    # Later entries win: signature inputs/outputs and the chosen scopes stay float.
    keep = [(".*", TFLOperationName.INPUT), (".*", TFLOperationName.OUTPUT)]
    keep += [(regex, TFLOperationName.ALL_SUPPORTED) for regex in float_scopes]
    for regex, operation in keep:
        model.update_quantization_recipe(regex, operation, algorithm_key=AlgorithmName.NO_QUANTIZE)
    return model


def calibrate(float_content, representative_data):
    """min/max ranges of every tensor of `float_content` on the representative data.

    They serve any choice of `float_scopes` (`quantize_selectively(..., ranges=...)`), so a
    sweep over choices calibrates once.
    """
    data = calibration_data(representative_data)
    missing = sorted(set(_signatures(float_content)) - set(data))
    if missing:
        raise ValueError(f"no calibration examples for signatures {missing}")
    return _quantizer(float_content, ()).calibrate(data, num_threads=1)


def _signatures(content):
    from ai_edge_litert.interpreter import Interpreter

    return list(Interpreter(model_content=bytes(content)).get_signature_list())


def quantize_selectively(
    float_content, representative_data, float_scopes=DEFAULT_FLOAT_SCOPES, ranges=None
):
    """int8 weights and activations except the ops matching `float_scopes` (see module doc).

    Args:
        float_content: a float32 `.tflite` with tensor names (`strip_names=False`).
        representative_data: callable yielding `(signature, {input name: array})` pairs that
            cover every signature (calibration); unused when `ranges` is given.
        float_scopes: regexes (`re.search`) of op scopes left in float32.
        ranges: the result of `calibrate` on this model (None: calibrate here).
    Returns:
        The quantized `.tflite` bytes (tensor names kept).
    Raises:
        ValueError: a scope matches nothing, a signature has no calibration examples, or the
            result's signature inputs/outputs are not those of the float model.
    """
    check_float_scopes(float_content, float_scopes)
    if ranges is None:
        ranges = calibrate(float_content, representative_data)
    model = _quantizer(float_content, float_scopes)
    content = bytes(
        model.quantize(
            ranges, enable_progress_bar=False, enable_progress_report=False
        ).quantized_model
    )
    expected, got = _io_dtypes(float_content), _io_dtypes(content)
    if got != expected:
        changed = {key: (expected.get(key), got.get(key)) for key in set(got) | set(expected)}
        changed = {k: v for k, v in changed.items() if v[0] != v[1]}
        raise ValueError(
            f"selective int8 changed signature inputs/outputs (float, int8): {changed}"
        )
    return content
