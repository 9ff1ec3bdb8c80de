"""Property tests of the predict-request parsers (REST JSON and gRPC protos): whatever the
request, one matching the signature's dtypes and shapes or a `RequestError` (4xx with a
message), never another error."""

import base64
import json

import numpy as np
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

import mmlm  # noqa: F401  (before TensorFlow: it selects tf_keras)

# isort: split
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
from tensorflow_serving.apis import predict_pb2

from mmlm.backend import tf
from mmlm.serving.model import Signature
from mmlm.serving.predict import PredictRequest, RequestError, parse_predict_request
from mmlm.serving.proto_predict import parse_predict_proto

MAX_INSTANCES = 6


def _signature(name, **inputs):
    return Signature(name, None, inputs, {"out": tf.TensorSpec([None], tf.float32)})


SIGNATURES = {
    "serving_default": _signature("serving_default", text=tf.TensorSpec([None], tf.string)),
    "embed_image": _signature("embed_image", images=tf.TensorSpec([None, 2, 2, 3], tf.uint8)),
    "embed_audio": _signature(
        "embed_audio",
        audio=tf.TensorSpec([None, None], tf.float32),
        audio_length=tf.TensorSpec([None], tf.int32),
    ),
    "flags": _signature("flags", present=tf.TensorSpec([None], tf.bool)),
    "any_rank": _signature("any_rank", x=tf.TensorSpec(None, tf.int64)),
}
INPUT_NAMES = sorted({name for s in SIGNATURES.values() for name in s.inputs}) + ["other"]

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=8)
    | st.builds(lambda b: {"b64": b}, st.text(max_size=8))
    | st.builds(lambda b: {"b64": base64.b64encode(b).decode()}, st.binary(max_size=8))
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(INPUT_NAMES) | st.text(max_size=4), children, max_size=3)
    ),
    max_leaves=24,
)


def _tensor(shape, leaf):
    size = int(np.prod(shape))
    flat = st.lists(leaf, min_size=size, max_size=size)
    return flat.map(lambda items: np.array(items, dtype=object).reshape(shape).tolist())


# Regular tensors of numbers or strings, the shapes a signature may or may not take.
leaves = st.sampled_from([st.integers(-300, 300), st.floats(), st.text(max_size=3)])
shapes = st.integers(0, 4).flatmap(
    lambda rank: st.lists(st.integers(0, 3), min_size=rank, max_size=rank)
)
tensors = st.tuples(shapes, leaves).flatmap(lambda pair: _tensor(*pair))
values = json_values | tensors
requests = st.fixed_dictionaries(
    {},
    optional={
        "signature_name": st.sampled_from(sorted(SIGNATURES)) | json_values,
        "instances": st.lists(
            values | st.dictionaries(st.sampled_from(INPUT_NAMES), values, max_size=3),
            max_size=MAX_INSTANCES + 2,
        )
        | json_values,
        "inputs": st.dictionaries(st.sampled_from(INPUT_NAMES), values, max_size=3) | values,
    },
)


def _spec_values(spec, batch):
    """Values of the input `spec` for `batch` rows: of its dtype, unknown sizes 0..3."""
    dims = [batch]
    if spec.shape.rank is not None:
        dims += [d if d is not None else 2 for d in spec.shape.as_list()[1:]]
    if spec.dtype == tf.string:
        leaf = st.text(max_size=4) | st.binary(max_size=4).map(
            lambda b: {"b64": base64.b64encode(b).decode()}
        )
    elif spec.dtype == tf.bool:
        leaf = st.booleans()
    elif spec.dtype.is_integer:
        leaf = st.integers(spec.dtype.min, spec.dtype.max) | st.integers()
    else:
        leaf = st.floats(width=32) | st.integers(-10, 10)
    return _tensor(dims, leaf)


def _targeted(name):
    """Requests for signature `name` that are right but for what the draw changes."""
    signature = SIGNATURES[name]
    batch = st.integers(1, MAX_INSTANCES + 1)

    def columnar(rows):
        inputs = st.fixed_dictionaries(
            {key: _spec_values(spec, rows) for key, spec in signature.inputs.items()}
        )
        return inputs.map(lambda values: {"signature_name": name, "inputs": values})

    def row_format(rows):
        columns = columnar(rows).map(lambda request: request["inputs"])
        return columns.map(
            lambda values: {
                "signature_name": name,
                "instances": [{k: v[i] for k, v in values.items()} for i in range(rows)],
            }
        )

    return batch.flatmap(lambda rows: columnar(rows) | row_format(rows))


targeted = st.sampled_from(sorted(SIGNATURES)).flatmap(_targeted)


def _event(text):
    try:
        event(text)
    except InvalidArgument:  # outside a property test
        pass


def _check(body):
    try:
        request = parse_predict_request(body, SIGNATURES, max_instances=MAX_INSTANCES)
    except RequestError as error:
        assert 400 <= error.status < 500 and str(error), error
        _event(f"refused: {str(error)[:30]}")
        return None
    _event(f"parsed: {request.signature.name}")
    assert isinstance(request, PredictRequest)
    for name, array in request.inputs.items():
        spec = request.signature.inputs[name]
        expected = object if spec.dtype == tf.string else spec.dtype.as_numpy_dtype
        assert array.dtype == expected, (name, array.dtype)
        assert spec.shape.is_compatible_with(array.shape), (name, array.shape)
    assert request.rows <= MAX_INSTANCES or not request.signature.batchable
    return request


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(requests, targeted, targeted))
def test_any_json_request_is_parsed_or_refused_clearly(request):
    _check(json.dumps(request).encode("utf-8"))


@settings(max_examples=300, deadline=None)
@given(
    st.binary(max_size=64) | st.text(max_size=64).map(lambda t: t.encode("utf-8", "surrogatepass"))
)
def test_any_bytes_are_parsed_or_refused_clearly(body):
    _check(body)


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 3000))
def test_deep_nesting_is_refused_clearly(depth):
    body = '{"signature_name": "any_rank", "inputs": {"x": ' + "[" * depth + "1" + "]" * depth
    _check((body + "}}").encode())


def test_valid_requests_parse():
    """The property above is not vacuous: these parse to the expected arrays."""
    request = _check(json.dumps({"instances": ["a", "b"]}).encode())
    assert request.inputs["text"].tolist() == [b"a", b"b"]
    image = [[[0, 1, 2]] * 2] * 2
    body = {"signature_name": "embed_image", "inputs": {"images": [image]}}
    assert _check(json.dumps(body).encode()).inputs["images"].shape == (1, 2, 2, 3)


DTYPES = [types_pb2.DT_STRING, types_pb2.DT_FLOAT, types_pb2.DT_INT32, types_pb2.DT_UINT8]
DTYPES += [types_pb2.DT_BOOL, types_pb2.DT_INT64, types_pb2.DT_DOUBLE, types_pb2.DT_HALF]


@st.composite
def tensor_protos(draw, dtype=None):
    """TensorProtos of `dtype` (mostly) or any other, any shape (negative and huge sizes too)
    and values."""
    dtypes = st.sampled_from(DTYPES) | st.integers(0, 30)
    if dtype is not None:
        dtypes = st.one_of(st.just(dtype), st.just(dtype), dtypes)
    proto = tensor_pb2.TensorProto(dtype=draw(dtypes))
    dims = draw(st.lists(st.integers(-2, 4) | st.sampled_from([2**31, 2**62]), max_size=4))
    proto.tensor_shape.dim.extend(tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in dims)
    proto.tensor_shape.unknown_rank = draw(st.booleans()) and draw(st.booleans())
    if draw(st.booleans()):
        proto.tensor_content = draw(st.binary(max_size=64))
    else:
        proto.float_val.extend(draw(st.lists(st.floats(width=32), max_size=5)))
        proto.int_val.extend(draw(st.lists(st.integers(-(2**31), 2**31 - 1), max_size=5)))
        proto.int64_val.extend(draw(st.lists(st.integers(-(2**63), 2**63 - 1), max_size=5)))
        proto.bool_val.extend(draw(st.lists(st.booleans(), max_size=5)))
        proto.string_val.extend(draw(st.lists(st.binary(max_size=5), max_size=5)))
    return proto


def _proto_inputs(name):
    specs = SIGNATURES[name].inputs
    protos = {k: tensor_protos(spec.dtype.as_datatype_enum) for k, spec in specs.items()}
    return st.tuples(st.just(name), st.fixed_dictionaries(protos))


proto_requests = st.one_of(
    st.sampled_from(sorted(SIGNATURES)).flatmap(_proto_inputs),
    st.sampled_from(sorted(SIGNATURES)).flatmap(_proto_inputs),
    st.tuples(
        st.sampled_from(sorted(SIGNATURES)) | st.text(max_size=4),
        st.dictionaries(st.sampled_from(INPUT_NAMES), tensor_protos(), max_size=3),
    ),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(proto_requests, st.lists(st.sampled_from(["out", "x"]), max_size=2))
def test_any_grpc_request_is_parsed_or_refused_clearly(name_and_inputs, output_filter):
    name, inputs = name_and_inputs
    request = predict_pb2.PredictRequest()
    request.model_spec.signature_name = name
    for key, proto in inputs.items():
        request.inputs[key].CopyFrom(proto)
    request.output_filter.extend(output_filter)
    try:
        parsed = parse_predict_proto(
            request, SIGNATURES, max_instances=MAX_INSTANCES, max_bytes=4096
        )
    except RequestError as error:
        assert 400 <= error.status < 500 and str(error), error
        _event(f"refused: {str(error)[:30] if name in SIGNATURES else 'unknown signature'}")
        return
    _event(f"parsed: {parsed.signature.name}")
    for key, array in parsed.inputs.items():
        spec = parsed.signature.inputs[key]
        assert spec.shape.is_compatible_with(array.shape), (key, array.shape)
