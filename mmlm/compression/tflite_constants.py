"""int8 storage for the float constants dynamic-range quantization leaves float.

The converter's dynamic-range mode stores int8 only the weights of ops with hybrid kernels
(fully connected, convolution, batch matmul, embedding lookup). A constant that feeds an
ordinary float op stays float32: in mmlm the position tables added to the token and patch
embeddings (text learned, image and audio sin-cos or learned), 103 kB of the tiny preset's
1.26 MB dynamic file. `quantize_float_constants` stores each such constant as int8 with one
scale per channel of its last axis and adds a DEQUANTIZE op in front of the graph that
restores the float tensor (what the converter itself does for float16 weights). Ops, inputs
and outputs are unchanged; the values differ by at most half a quantization step.
"""

import numpy as np
from ai_edge_litert import schema_py_generated as schema
from ai_edge_litert.tools import flatbuffer_utils

DEQUANTIZE_VERSION = 5  # per-channel int8 input (TFLite's op versioning)


def _dequantize_opcode(model):
    """Index of a DEQUANTIZE operator code in `model`, added if missing."""
    code = schema.BuiltinOperator.DEQUANTIZE
    for i, existing in enumerate(model.operatorCodes):
        if max(existing.builtinCode, existing.deprecatedBuiltinCode) == code:
            existing.version = max(existing.version, DEQUANTIZE_VERSION)
            return i
    opcode = schema.OperatorCodeT()
    opcode.builtinCode = code
    opcode.deprecatedBuiltinCode = code
    opcode.version = DEQUANTIZE_VERSION
    model.operatorCodes.append(opcode)
    return len(model.operatorCodes) - 1


def _quantize(values):
    """Symmetric int8 values and per-last-axis scales of a float array."""
    channels = values.reshape(-1, values.shape[-1])
    scales = np.max(np.abs(channels), axis=0) / 127.0
    scales = np.where(scales > 0, scales, 1.0).astype(np.float32)
    quantized = np.clip(np.round(values / scales), -127, 127).astype(np.int8)
    return quantized, scales


def _candidates(model, subgraph, min_elements):
    """Indices of float32 constant tensors of `subgraph` with at least `min_elements`."""
    outputs = {i for op in subgraph.operators for i in op.outputs}
    found = []
    for index, tensor in enumerate(subgraph.tensors):
        data = model.buffers[tensor.buffer].data
        if (
            tensor.type == schema.TensorType.FLOAT32
            and data is not None
            and len(data) >= 4 * min_elements
            and index not in outputs
            and tensor.shape is not None
            and len(tensor.shape) > 0
        ):
            found.append(index)
    return found


def _int8_tensor(tensor, buffer_index, scales):
    quantized = schema.TensorT()
    quantized.shape = np.array(tensor.shape, np.int32)
    quantized.type = schema.TensorType.INT8
    quantized.buffer = buffer_index
    quantized.name = (tensor.name or b"") + b"_int8" if tensor.name else None
    parameters = schema.QuantizationParametersT()
    parameters.scale = scales
    parameters.zeroPoint = np.zeros(len(scales), np.int64)
    parameters.quantizedDimension = len(tensor.shape) - 1
    quantized.quantization = parameters
    return quantized


def quantize_float_constants(content, min_elements=1024):
    """`content` (`.tflite` bytes) with float32 constants of ≥ `min_elements` stored as int8.

    Returns:
        (new bytes, number of constants converted).
    """
    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(content))
    stored = {}  # float buffer index -> (int8 buffer index, scales): shared across subgraphs
    opcode = None
    for subgraph in model.subgraphs:
        dequantize_ops = []
        for index in _candidates(model, subgraph, min_elements):
            tensor = subgraph.tensors[index]
            if tensor.buffer not in stored:
                values = np.frombuffer(bytes(model.buffers[tensor.buffer].data), np.float32)
                quantized, scales = _quantize(values.reshape(tensor.shape))
                buffer = schema.BufferT()
                buffer.data = np.frombuffer(quantized.tobytes(), np.uint8)
                model.buffers.append(buffer)
                stored[tensor.buffer] = (len(model.buffers) - 1, scales)
            buffer_index, scales = stored[tensor.buffer]
            subgraph.tensors.append(_int8_tensor(tensor, buffer_index, scales))
            tensor.buffer = 0  # buffer 0 is the schema's empty buffer: a runtime tensor now
            opcode = _dequantize_opcode(model) if opcode is None else opcode
            op = schema.OperatorT()
            op.opcodeIndex = opcode
            op.inputs = np.array([len(subgraph.tensors) - 1], np.int32)
            op.outputs = np.array([index], np.int32)
            dequantize_ops.append(op)
        subgraph.operators = dequantize_ops + list(subgraph.operators)
    for float_buffer in stored:
        model.buffers[float_buffer].data = None
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model)), len(stored)
