"""TensorFlow Serving's Predict protos (gRPC requests and warmup records) to NumPy and back.

A `tensorflow.serving.PredictRequest` names the signature in `model_spec.signature_name` and
holds one `TensorProto` per input; its tensors are validated as the JSON ones are
(`mmlm.serving.predict`): dtype, shape, batch sizes and the server's row limit. A `TensorProto`
may give fewer values than its shape holds (one value fills the tensor, as TensorFlow reads it),
so its declared size is checked against `max_bytes` before anything is allocated: a request of
a few bytes cannot make the server build a 40 GB image.
"""

import numpy as np
from google.protobuf import wrappers_pb2
from tensorflow.core.framework import types_pb2

from mmlm.backend import tf
from mmlm.serving.predict import (
    PredictRequest,
    RequestError,
    check_batch_sizes,
    check_input_names,
    check_rows,
    check_shape,
    find_signature,
)

# Fields of a TensorProto holding its values, by dtype, for the value-count check.
_VALUE_FIELDS = (
    "float_val",
    "double_val",
    "int_val",
    "int64_val",
    "uint32_val",
    "uint64_val",
    "bool_val",
    "string_val",
    "half_val",
    "scomplex_val",
    "dcomplex_val",
)


def parse_predict_proto(request, signatures, max_instances=None, max_bytes=None):
    """A `PredictRequest` (see `mmlm.serving.predict`) of a `tensorflow.serving.PredictRequest`.

    Args:
        request: the `predict_pb2.PredictRequest`.
        signatures: signature name -> `Signature` of the served version.
        max_instances: rows one request may hold at most (None: no limit).
        max_bytes: bytes one input tensor may hold at most once decoded (None: no limit).
    Raises:
        RequestError: 400 for an unknown signature, unknown or missing inputs, wrong dtypes or
            shapes, malformed tensors; 413 for more rows than `max_instances` or a tensor
            larger than `max_bytes`.
    """
    signature = find_signature(request.model_spec.signature_name, signatures)
    check_input_names(request.inputs, signature, where="inputs")
    arrays = {}
    for name, proto in request.inputs.items():
        spec = signature.inputs[name]
        array = array_from_proto(proto, spec.dtype, name, max_bytes)
        check_shape(array, spec.shape, name, row_format=False)
        if array.ndim:
            check_rows(array.shape[0], max_instances, f"input '{name}' holds")
        arrays[name] = array
    if signature.batchable:
        check_batch_sizes(arrays)
    unknown = sorted(set(request.output_filter) - set(signature.outputs))
    if unknown:
        raise RequestError(
            f"output_filter names unknown output(s) {', '.join(unknown)} of signature "
            f"'{signature.name}', whose outputs are: {', '.join(sorted(signature.outputs))}"
        )
    return PredictRequest(signature=signature, inputs=arrays, row_format=False)


def array_from_proto(proto, dtype, name, max_bytes=None):
    """The NumPy array of TensorProto `proto`, which must hold `dtype` (a `tf.DType`).

    Raises:
        RequestError: for another dtype, an unknown or negative dimension, a value count that
            fits neither the shape nor TensorFlow's one-value fill, or (413) more than
            `max_bytes` bytes once decoded.
    """
    if proto.dtype != dtype.as_datatype_enum:
        expected = _dt_name(dtype.as_datatype_enum)
        raise RequestError(f"input '{name}' expects {expected}, got {_dt_name(proto.dtype)}")
    if proto.tensor_shape.unknown_rank or any(d.size < 0 for d in proto.tensor_shape.dim):
        raise RequestError(f"input '{name}': the tensor's shape must be fully known")
    shape = [d.size for d in proto.tensor_shape.dim]
    count = int(np.prod(shape, dtype=np.float64))
    item_size = 1 if dtype == tf.string else dtype.size
    if max_bytes is not None and count * item_size > max_bytes:
        raise RequestError(
            f"input '{name}' declares shape {shape}: {count} values of {item_size} byte(s), over "
            f"this server's limit of {max_bytes} bytes per input (max_request_bytes)",
            413,
        )
    _check_value_count(proto, count, item_size, name)
    try:
        return tf.make_ndarray(proto)
    except (ValueError, TypeError, OverflowError) as error:
        raise RequestError(f"input '{name}': malformed TensorProto: {error}") from None


def _check_value_count(proto, count, item_size, name):
    if proto.tensor_content:
        if proto.dtype == types_pb2.DT_STRING or len(proto.tensor_content) != count * item_size:
            raise RequestError(
                f"input '{name}': tensor_content holds {len(proto.tensor_content)} bytes, the "
                f"shape needs {count * item_size}"
            )
        return
    given = max(len(getattr(proto, field)) for field in _VALUE_FIELDS)
    if given > count:
        raise RequestError(f"input '{name}': {given} values for a shape of {count}")


def proto_from_array(array):
    """The `TensorProto` of a NumPy array (strings as DT_STRING)."""
    return tf.make_tensor_proto(array)


def fill_predict_response(response, model, signature, outputs, output_filter=()):
    """Fills a `predict_pb2.PredictResponse` with `outputs` ({name: array}) of `signature`."""
    fill_model_spec(response.model_spec, model, signature.name)
    for name, value in outputs.items():
        if not output_filter or name in output_filter:
            response.outputs[name].CopyFrom(proto_from_array(np.asarray(value)))
    return response


def fill_model_spec(spec, model, signature_name=None):
    """Sets a `ModelSpec`'s name, version (and signature name) to those of `model`."""
    spec.name = model.name
    spec.version.CopyFrom(wrappers_pb2.Int64Value(value=int(model.version)))
    if signature_name is not None:
        spec.signature_name = signature_name


def _dt_name(enum_value):
    return types_pb2.DataType.Name(enum_value)
