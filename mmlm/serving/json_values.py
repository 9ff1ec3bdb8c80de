"""JSON values of TensorFlow Serving's Predict API ↔ NumPy arrays, checked against a signature.

`to_array` turns the JSON value of one input into an array of the input's dtype and shape, and
says in a `RequestError` what was expected and what was received; `to_json` turns an output
array back into JSON values (strings as UTF-8, or `{"b64": ...}`). `mmlm.serving.predict` parses
whole requests with them.
"""

import base64
import binascii

import numpy as np
from tensorflow.core.framework import types_pb2

from mmlm.serving.model import format_shape


class RequestError(Exception):
    """A request the server refuses: `status` (4xx) and a message for the client."""

    def __init__(self, message, status=400):
        super().__init__(message)
        self.status = status


def is_b64(value):
    """Whether `value` is a `{"b64": "<base64>"}` object (raw bytes)."""
    return isinstance(value, dict) and set(value) == {"b64"}


def to_array(value, spec, name, row_format=False):
    """The JSON `value` of input `name` as a NumPy array matching `spec` (a `tf.TensorSpec`).

    Raises:
        RequestError: if the values have the wrong type, are ragged or have the wrong shape.
    """
    _check_depth(value, spec.shape, name)
    if spec.dtype.name == "string":
        array = _string_array(value, name)
    else:
        array = _numeric_array(value, spec.dtype, name)
    check_shape(array, spec.shape, name, row_format)
    return array


# Nested deeper than this, a value is no tensor any signature takes (NumPy stops at 64).
MAX_RANK = 32


def _check_depth(value, shape, name):
    """`RequestError` if `value` nests lists deeper than a tensor of `shape` has dimensions,
    found along its first elements, before anything recurses through it."""
    depth = 0
    while isinstance(value, list) and value:
        depth, value = depth + 1, value[0]
    rank = MAX_RANK if shape.rank is None else shape.rank
    if depth > rank:
        raise RequestError(
            f"input '{name}': the values are nested {depth} lists deep, but the input has "
            f"{rank} dimensions (shape {format_shape(shape)}, the first is the batch)"
        )


def _string_array(value, name):
    shape = _nested_shape(value, name)
    leaves = [_to_bytes(leaf, name) for leaf in _leaves(value)]
    array = np.empty(len(leaves), dtype=object)
    array[:] = leaves
    return array.reshape(shape)


def _nested_shape(value, name):
    """The shape of nested lists `value`; `RequestError` if they are ragged."""
    if not isinstance(value, list):
        return ()
    if not value:
        return (0,)
    shapes = [_nested_shape(item, name) for item in value]
    if any(shape != shapes[0] for shape in shapes):
        raise RequestError(_ragged_message(name))
    return (len(value),) + shapes[0]


def _leaves(value):
    if isinstance(value, list):
        for item in value:
            yield from _leaves(item)
    else:
        yield value


def _to_bytes(leaf, name):
    if isinstance(leaf, str):
        try:
            return leaf.encode("utf-8")
        except UnicodeEncodeError:  # JSON's "\ud800": a lone surrogate is no Unicode text
            code = _surrogate(leaf)
            raise RequestError(
                f"input '{name}': a string holds a lone surrogate (\\u{code:x}), which is not "
                'Unicode text; send raw bytes as {"b64": "..."}'
            ) from None
    if is_b64(leaf) and isinstance(leaf["b64"], str):
        try:
            return base64.b64decode(leaf["b64"], validate=True)
        except (binascii.Error, ValueError) as error:
            raise RequestError(f"input '{name}': invalid base64 in {{\"b64\": ...}}: {error}")
    raise RequestError(
        f'input \'{name}\' expects strings (DT_STRING) or {{"b64": "..."}} objects, '
        f"got {json_type(leaf)}"
    )


def _surrogate(text):
    """The code point of the first surrogate in `text`."""
    return next(ord(c) for c in text if 0xD800 <= ord(c) <= 0xDFFF)


def _numeric_array(value, dtype, name):
    """`value` as an array of `dtype` (a numeric or bool `tf.DType`)."""
    try:
        array = np.asarray(value)
    except ValueError:  # NumPy refuses inhomogeneous (ragged) nested lists
        raise RequestError(_ragged_message(name)) from None
    expected = f"{'true/false' if dtype.is_bool else 'numbers'} ({_dt_name(dtype)})"
    if array.dtype.kind in "OUS":
        got = "strings" if array.dtype.kind in "US" else _first_non_number(value)
        raise RequestError(f"input '{name}' expects {expected}, got {got}")
    if dtype.is_bool != (array.dtype.kind == "b"):
        got = "true/false" if array.dtype.kind == "b" else "numbers"
        raise RequestError(f"input '{name}' expects {expected}, got {got}")
    if dtype.is_integer and array.size:
        if array.dtype.kind == "f" and not np.all(np.mod(array, 1) == 0):
            raise RequestError(
                f"input '{name}' expects integers ({_dt_name(dtype)}), got fractions"
            )
        low, high = array.min(), array.max()
        if low < dtype.min or high > dtype.max:
            raise RequestError(
                f"input '{name}' expects {_dt_name(dtype)} values in [{dtype.min}, {dtype.max}], "
                f"got values in [{low}, {high}]"
            )
    return array.astype(dtype.as_numpy_dtype)


def _first_non_number(value):
    for leaf in _leaves(value):
        if isinstance(leaf, bool) or not isinstance(leaf, (int, float)):
            return json_type(leaf)
        if isinstance(leaf, int) and abs(leaf) >= 2**63:
            return f"an out-of-range integer ({leaf})"
    return "values that do not form a numeric array"


def _ragged_message(name):
    return (
        f"input '{name}': the nested lists are ragged (rows of different lengths); every row, "
        "and in row format every instance, must have the same shape"
    )


def check_shape(array, expected, name, row_format):
    if expected.rank is None:
        return
    dims = expected.as_list()
    if array.ndim == len(dims) and all(e is None or e == g for e, g in zip(dims, array.shape)):
        return
    if row_format:
        raise RequestError(
            f"input '{name}': each instance must have shape {format_shape(dims[1:])} "
            "(-1: any size), "
            f"got {format_shape(array.shape[1:])}"
        )
    raise RequestError(
        f"input '{name}': expected shape {format_shape(dims)} "
        "(-1: any size, the first is the batch), "
        f"got {format_shape(array.shape)}"
    )


def _dt_name(dtype):
    return types_pb2.DataType.Name(dtype.as_datatype_enum)  # DT_FLOAT, DT_UINT8, ...


def json_type(value):
    """How a JSON value reads in an error message ("a string", "a list", ...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object" if not is_b64(value) else 'a {"b64": ...} object'


def to_json(array, name):
    """Nested lists of JSON values of an output array."""
    array = np.asarray(array)
    if array.dtype.kind not in "OS":
        return array.tolist()
    always_b64 = name.endswith("_bytes")

    def convert(item):
        if isinstance(item, list):
            return [convert(x) for x in item]
        if not always_b64:
            try:
                return item.decode("utf-8")
            except UnicodeDecodeError:
                pass
        return {"b64": base64.b64encode(item).decode("ascii")}

    return convert(array.tolist())
