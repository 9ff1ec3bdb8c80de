"""TFLite conversion (built-in ops only) and running a converted model with ai-edge-litert."""

import numpy as np

from mmlm.backend import tf


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


def convert(model, specs, quantize="none", representative_data=None):
    """Converts a dict-input Keras model to a `.tflite` flatbuffer with built-in ops only.

    Args:
        model: a functional model taking a dict.
        specs: name → `tf.TensorSpec` (see `input_specs`).
        quantize: "none", "float16", "dynamic" or "int8" (full integer weights and activations,
            float inputs/outputs; needs `representative_data`).
        representative_data: callable yielding dicts of example inputs (int8 calibration).
    Returns:
        bytes.
    """
    function = tf.function(lambda inputs: model(inputs, training=False))
    concrete = function.get_concrete_function(specs)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], model)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantize != "none":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "float16":
        converter.target_spec.supported_types = [tf.float16]
    elif quantize == "int8":
        if representative_data is None:
            raise ValueError("int8 quantization needs representative_data")
        converter.representative_dataset = lambda: (
            [example[name] for name in sorted(specs)] for example in representative_data()
        )
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    elif quantize not in ("none", "dynamic"):
        raise ValueError(f"quantize must be none, float16, dynamic or int8, got {quantize!r}")
    return converter.convert()


class TFLiteRunner:
    """Runs a converted model with the ai-edge-litert interpreter (the on-device runtime).

    Args:
        model_content: the `.tflite` bytes.
        num_threads: interpreter threads.
    """

    def __init__(self, model_content, num_threads=1):
        from ai_edge_litert.interpreter import Interpreter

        self.interpreter = Interpreter(model_content=model_content, num_threads=num_threads)
        self.runner = self.interpreter.get_signature_runner()

    def __call__(self, inputs):
        details = self.runner.get_input_details()
        feed = {
            name: np.asarray(inputs[name]).astype(detail["dtype"])
            for name, detail in details.items()
        }
        outputs = self.runner(**feed)
        return outputs if len(outputs) > 1 else next(iter(outputs.values()))
