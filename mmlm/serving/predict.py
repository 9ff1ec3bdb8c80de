"""The JSON of TensorFlow Serving's Predict API: requests to NumPy arrays and back.

A request names a signature (`signature_name`, default `serving_default`) and gives its inputs
in one of two formats:

* row format, `"instances": [...]`: one entry per row, either the value of the only input or an
  object `{input name: value}`; rows are stacked along a new leading (batch) axis. The response
  is `{"predictions": [...]}`: per row, the value of the only output or `{output name: value}`.
* columnar format, `"inputs": {input name: batched value}` (or the bare batched value of a
  single-input signature). The response is `{"outputs": ...}`: the only output's value, or
  `{output name: value}`.

String (DT_STRING) values are JSON strings (UTF-8) or `{"b64": "<base64>"}` for raw bytes. String
outputs come back as UTF-8 strings when they decode, else as `{"b64": ...}`; outputs whose name
ends in `_bytes` are always base64, as TF Serving does.

Every problem with a request raises `RequestError`, whose message names the input and says what
was expected and what was received. The conversion of each value lives in
`mmlm.serving.json_values`.
"""

import dataclasses
import json

from mmlm.serving.json_values import (  # noqa: F401 (check_shape, to_array: public here too)
    MAX_RANK,
    RequestError,
    check_shape,
    is_b64,
    json_type,
    to_array,
    to_json,
)
from mmlm.serving.model import DEFAULT_SIGNATURE


@dataclasses.dataclass(frozen=True)
class PredictRequest:
    """A validated predict request.

    Attributes:
        signature: the `Signature` to run.
        inputs: input name -> NumPy array of the signature's dtype and shape.
        row_format: whether the request used `instances` (answered with `predictions`).
    """

    signature: object
    inputs: dict
    row_format: bool

    @property
    def rows(self):
        """The batch size: the leading dimension of the inputs (1 for a scalar input, which a
        signature of unknown input rank accepts)."""
        shape = next(iter(self.inputs.values())).shape
        return shape[0] if shape else 1

    @property
    def batch_key(self):
        """Requests with equal keys can be concatenated along the batch axis."""
        shapes = tuple(
            (name, array.shape[1:], array.dtype.str) for name, array in sorted(self.inputs.items())
        )
        return self.signature.name, shapes


def parse_predict_request(body, signatures, max_instances=None):
    """Parses and validates the body of a `:predict` request.

    Args:
        body: the request body (bytes).
        signatures: signature name -> `Signature` of the served model.
        max_instances: rows (instances, or the leading dimension of columnar inputs) one
            request may hold at most; None: no limit.
    Returns:
        A `PredictRequest`.
    Raises:
        RequestError: on malformed JSON, an unknown signature, wrong or missing input names,
            values of the wrong type or shape, or more rows than `max_instances` (413).
    """
    try:
        return _parse(body, signatures, max_instances)
    except RecursionError:
        raise RequestError("the JSON is nested too deeply") from None


def _parse(body, signatures, max_instances):
    request = _parse_json(body)
    signature = _find_signature(request, signatures)
    if ("instances" in request) == ("inputs" in request):
        raise RequestError(
            "a predict request needs exactly one of 'instances' (row format) or 'inputs' "
            f"(columnar format); got keys: {', '.join(sorted(request)) or 'none'}"
        )
    row_format = "instances" in request
    if row_format:
        _check_list_rows(request["instances"], max_instances, "'instances' holds")
        values = _columns_of_instances(request["instances"], signature)
    else:
        values = _named_inputs(request["inputs"], signature)
        for name, value in values.items():
            _check_list_rows(value, max_instances, f"input '{name}' holds")
    arrays = {
        name: to_array(value, signature.inputs[name], name, row_format)
        for name, value in values.items()
    }
    if signature.batchable:
        check_batch_sizes(arrays)
    return PredictRequest(signature=signature, inputs=arrays, row_format=row_format)


def _check_list_rows(value, max_instances, what):
    if isinstance(value, list):
        check_rows(len(value), max_instances, what)


def check_rows(rows, max_instances, what):
    """`RequestError` 413 if `rows` is more than `max_instances` (None: no limit)."""
    if max_instances is not None and rows > max_instances:
        raise RequestError(
            f"{what} {rows} rows, over this server's limit of {max_instances} per request "
            "(max_instances): split them over several requests",
            413,
        )


def _parse_json(body):
    try:
        request = json.loads(body)
    except UnicodeDecodeError as error:
        raise RequestError(f"malformed JSON: the body is not UTF-8 text ({error})") from None
    except json.JSONDecodeError as error:
        raise RequestError(f"malformed JSON: {error}") from None
    except ValueError as error:  # an integer of more than 4300 digits, say
        raise RequestError(f"malformed JSON: {str(error).split(';')[0]}") from None
    if not isinstance(request, dict):
        raise RequestError(f"the request must be a JSON object, got {json_type(request)}")
    return request


def _find_signature(request, signatures):
    name = request.get("signature_name", DEFAULT_SIGNATURE)
    if not isinstance(name, str):
        raise RequestError(f"'signature_name' must be a string, got {json_type(name)}")
    return find_signature(name, signatures)


def find_signature(name, signatures):
    """The `Signature` called `name` (empty: `serving_default`, as in TF Serving).

    Raises:
        RequestError: if there is none, listing the signatures there are.
    """
    name = name or DEFAULT_SIGNATURE
    if name not in signatures:
        default = " (the default when none is named)" if name == DEFAULT_SIGNATURE else ""
        raise RequestError(
            f"there is no signature '{name}'{default} in this model; its signatures are: "
            + ", ".join(sorted(signatures))
        )
    return signatures[name]


def _is_named(value):
    """Whether `value` maps input names to values (rather than being one `{"b64": ...}`)."""
    return isinstance(value, dict) and not is_b64(value)


def _columns_of_instances(instances, signature):
    """{input name: list of per-row values} of the row format's `instances`."""
    if not isinstance(instances, list):
        raise RequestError(
            f"'instances' must be a list with one entry per row, got {json_type(instances)}"
        )
    if not instances:
        raise RequestError("'instances' is empty: give at least one row")
    named = [_is_named(instance) for instance in instances]
    if any(named) and not all(named):
        raise RequestError(
            "'instances' mixes objects of named inputs with bare values; use one form for all rows"
        )
    if not all(named):
        only = _only_input(signature, "each instance must be an object {input name: value}")
        return {only: instances}
    for row, instance in enumerate(instances):
        check_input_names(instance, signature, where=f"instance {row}")
    return {name: [instance[name] for instance in instances] for name in signature.inputs}


def _named_inputs(inputs, signature):
    """{input name: batched value} of the columnar format's `inputs`."""
    if not _is_named(inputs):
        only = _only_input(signature, "'inputs' must be an object {input name: batched value}")
        return {only: inputs}
    check_input_names(inputs, signature, where="'inputs'")
    return dict(inputs)


def _only_input(signature, hint):
    if len(signature.inputs) != 1:
        raise RequestError(
            f"signature '{signature.name}' has {len(signature.inputs)} inputs "
            f"({', '.join(sorted(signature.inputs))}): {hint}"
        )
    return next(iter(signature.inputs))


def check_input_names(values, signature, where):
    expected = ", ".join(sorted(signature.inputs))
    missing = sorted(set(signature.inputs) - set(values))
    unknown = sorted(set(values) - set(signature.inputs))
    if unknown:
        raise RequestError(
            f"{where}: unknown input {_quoted(unknown)} for signature '{signature.name}', "
            f"whose inputs are: {expected}"
        )
    if missing:
        raise RequestError(
            f"{where}: missing input {_quoted(missing)} of signature '{signature.name}', "
            f"whose inputs are: {expected}"
        )


def _quoted(names):
    return ", ".join(f"'{name}'" for name in names)


def check_batch_sizes(arrays):
    sizes = {name: array.shape[0] for name, array in arrays.items()}
    if len(set(sizes.values())) > 1:
        listed = ", ".join(f"'{name}' {size}" for name, size in sorted(sizes.items()))
        raise RequestError(f"the inputs have different batch sizes (leading dimension): {listed}")


def format_predict_response(outputs, row_format):
    """The JSON body answering a request: `predictions` (row format) or `outputs`."""
    if not row_format:
        if len(outputs) == 1:
            ((name, value),) = outputs.items()
            return {"outputs": to_json(value, name)}
        return {"outputs": {name: to_json(value, name) for name, value in outputs.items()}}
    if len(outputs) == 1:
        ((name, value),) = outputs.items()
        return {"predictions": to_json(value, name)}
    columns = {name: to_json(value, name) for name, value in outputs.items()}
    rows = {len(column) for column in columns.values()}
    if len(rows) != 1:
        raise RequestError(
            "the outputs have different batch sizes, so they cannot be returned per instance; "
            "send the request in columnar format ('inputs') instead"
        )
    return {
        "predictions": [
            {name: column[row] for name, column in columns.items()} for row in range(rows.pop())
        ]
    }
