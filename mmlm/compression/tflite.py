"""TFLite conversion (built-in ops only); `mmlm.serving.tflite_runner` runs the result."""

import os
import tempfile

from mmlm.backend import tf
from mmlm.compression.tflite_constants import quantize_float_constants
from mmlm.compression.tflite_ops import check_builtin_ops
from mmlm.compression.tflite_process import convert_saved_model_in_subprocess
from mmlm.config.sections import Quantization


def input_specs(model, batch_size=1, overrides=None):
    """Fixed-shape `tf.TensorSpec`s of a dict-input model (unknown lengths need `overrides`)."""
    specs = {}
    for name, tensor in model.input.items():
        shape = [batch_size] + list(tensor.shape[1:])
        if overrides and name in overrides:
            shape = [batch_size] + list(overrides[name])
        if any(dim is None for dim in shape):
            raise ValueError(f"input {name!r} has an unknown dimension {shape}; pass overrides")
        specs[name] = tf.TensorSpec(shape, tensor.dtype, name=name)
    return specs


def _configure(converter, quantize, representative_dataset):
    """Built-in ops only (no Flex, no custom ops), plus the optimizations of one `Quantization`."""
    quantize = Quantization(quantize)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    converter.allow_custom_ops = False
    if quantize is not Quantization.NONE:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize is Quantization.FLOAT16:
        converter.target_spec.supported_types = [tf.float16]
    elif quantize is Quantization.INT8:
        if representative_dataset is None:
            raise ValueError("int8 quantization needs representative data (calibration)")
        converter.representative_dataset = representative_dataset
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    return converter


def strip_tensor_names(model_content):
    """`model_content` without tensor names and the model description.

    The names only serve debugging (Netron shows them) and take about 5% of an int8 model
    (e.g. `model/vit_encoder/block_1/attention/query/einsum/Einsum;...`). Signatures address
    tensors by index, so signature runners work unchanged. Unlike
    `flatbuffer_utils.strip_strings`, the signature defs are kept.
    """
    from ai_edge_litert.tools import flatbuffer_utils

    # `read_model_from_bytearray` also reads buffers stored after the flatbuffer by offset (as
    # litert-quantizer writes models with over 256 kB of constants); they come back inline.
    model = flatbuffer_utils.read_model_from_bytearray(bytearray(model_content))
    model.description = None
    for subgraph in model.subgraphs:
        for tensor in subgraph.tensors:
            tensor.name = None
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


# Ops that stay float32 in a full-integer file: the log-mel spectrogram. Its power spectrum and
# mel energies span more decades than 8 bits hold (int8 left the frontend's output correlated
# 0.55 with float and text→audio R@1 at 0.016 on the demo); its output, in dB, quantizes well.
FLOAT_IN_INT8 = ("/log_mel_spectrogram/",)


def _quantize_full_integer(converter):
    """Full-integer quantization with the nodes named by `FLOAT_IN_INT8` kept in float32.

    The converter calibrates (`_experimental_calibrate_only`), then its own MLIR quantizer
    (`convert.mlir_quantize`, what `convert()` runs next in TF 2.21) quantizes with those nodes
    denylisted; QUANTIZE/DEQUANTIZE ops join them to the int8 rest. Both are TF-internal.
    """
    from ai_edge_litert.tools import flatbuffer_utils
    from tensorflow.lite.python import convert as lite_convert

    converter._experimental_calibrate_only = True  # noqa: SLF001
    calibrated = converter.convert()
    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(calibrated))
    names = {
        tensor.name.decode() if isinstance(tensor.name, bytes) else tensor.name
        for subgraph in model.subgraphs
        for tensor in subgraph.tensors
        if tensor.name
    }
    denylisted = sorted(name for name in names if any(part in name for part in FLOAT_IN_INT8))
    return lite_convert.mlir_quantize(
        calibrated,
        disable_per_channel=converter._experimental_disable_per_channel,  # noqa: SLF001
        input_data_type=tf.float32,
        output_data_type=tf.float32,
        denylisted_nodes=denylisted or None,
    )


def _convert(converter, quantize, representative_dataset, strip_names, float_scopes=None):
    """The `.tflite` bytes of a configured (`_configure`) converter, names stripped or not.

    `Quantization.SELECTIVE_INT8` converts to float32 with tensor names and quantizes that with
    `selective_int8.quantize_selectively` (`float_scopes`, default `DEFAULT_FLOAT_SCOPES`).

    Raises:
        NonBuiltinOpsError: the result needs Flex or custom ops (the converter should refuse
            them already; this checks the file itself).
    """
    quantize = Quantization(quantize)
    if quantize is Quantization.SELECTIVE_INT8:
        from mmlm.compression import selective_int8

        if representative_dataset is None:
            raise ValueError("selective int8 quantization needs representative data")
        content = _configure(converter, Quantization.NONE, None).convert()
        scopes = selective_int8.DEFAULT_FLOAT_SCOPES if float_scopes is None else float_scopes
        content = selective_int8.quantize_selectively(content, representative_dataset, scopes)
    elif quantize is Quantization.INT8:
        content = _quantize_full_integer(_configure(converter, quantize, representative_dataset))
    else:
        content = _configure(converter, quantize, representative_dataset).convert()
    check_builtin_ops(content, f"the {quantize.value} .tflite")
    if quantize is Quantization.DYNAMIC:
        # Position tables stay float32 otherwise (see `tflite_constants`).
        content, _ = quantize_float_constants(content)
    return strip_tensor_names(content) if strip_names else content


def convert(model, specs, quantize="none", representative_data=None, strip_names=True):
    """Converts a dict-input Keras model to a `.tflite` flatbuffer with built-in ops only.

    Args:
        model: a functional model taking a dict.
        specs: name → `tf.TensorSpec` (see `input_specs`).
        quantize: a `Quantization` (or its value): "none", "float16", "dynamic" (int8
            weights) or "int8" (int8 weights and activations, float inputs/outputs; needs
            `representative_data`). A quantization-aware-trained model converts with
            "dynamic": its fake-quant ranges make it integer.
        representative_data: callable yielding dicts of example inputs (int8 calibration).
        strip_names: drop tensor names (see `strip_tensor_names`); False keeps them for
            debugging.
    Returns:
        bytes.
    """
    if Quantization(quantize) is Quantization.SELECTIVE_INT8:
        raise ValueError("selective_int8 needs signatures: use convert_signatures")
    function = tf.function(lambda inputs: model(inputs, training=False))
    concrete = function.get_concrete_function(specs)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], model)
    representative = None
    if representative_data is not None:

        def representative():
            for example in representative_data():
                # By name: the converted model's input order is not the sorted order.
                yield {name: example[name] for name in specs}

    return _convert(converter, quantize, representative, strip_names)


def convert_signatures(
    module,
    signatures,
    quantize="none",
    representative_data=None,
    strip_names=True,
    float_scopes=None,
):
    """Converts several `tf.function`s of one `tf.Module` into one multi-signature `.tflite`.

    The module is saved as a SavedModel here; the conversion itself runs in a process of its
    own (`tflite_process`: TF 2.21's converter leaks about 20 MB per call), so `mmlm export`
    and every variant of `mmlm compress` leave this process's memory as it was.

    Args:
        module: the `tf.Module` owning the functions' variables.
        signatures: signature name → concrete function (fixed input shapes).
        quantize: a `Quantization` (see `convert`; "selective_int8" too).
        representative_data: callable yielding `(signature_name, {input name: array})` pairs
            covering every signature (int8 calibration).
        strip_names: drop tensor names (see `strip_tensor_names`).
        float_scopes: with "selective_int8", regexes of the op scopes left float (None:
            `selective_int8.DEFAULT_FLOAT_SCOPES`).
    Returns:
        bytes.
    Raises:
        TFLiteConversionError: the conversion failed (the converter's message is in it).
    """
    quantize = Quantization(quantize).value
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "saved_model")
        tf.saved_model.save(module, path, signatures=signatures)
        return convert_saved_model_in_subprocess(
            path,
            list(signatures),
            quantize,
            representative_data,
            strip_names,
            float_scopes=float_scopes,
        )
