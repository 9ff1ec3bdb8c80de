"""TensorFlow Serving's gRPC API beside the REST one: the same models, batcher and limits.

Services, as in `tensorflow_serving/apis/*_service.proto`, so that a client built on the
`tensorflow-serving-api` stubs works unchanged:

* `tensorflow.serving.PredictionService`: `Predict` and `GetModelMetadata` (`signature_def`);
  `Classify`, `Regress` and `MultiInference` answer UNIMPLEMENTED (the exported signatures are
  all Predict signatures).
* `tensorflow.serving.ModelService`: `GetModelStatus`; `HandleReloadConfigRequest` answers
  UNIMPLEMENTED (versions follow the model directory and the version policy instead).

The server is a `grpc.aio` server on the REST server's event loop, so gRPC and REST requests
are batched together. Errors are gRPC status codes with the REST server's messages:
INVALID_ARGUMENT (400), NOT_FOUND (404: model, version, label), RESOURCE_EXHAUSTED (413: too
many rows, a tensor or message over `max_request_bytes`).
"""

import grpc
from google.protobuf import any_pb2
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from mmlm.backend import tf
from mmlm.serving.model import call_error_message
from mmlm.serving.model_manager import VersionNotFoundError
from mmlm.serving.predict import RequestError
from mmlm.serving.proto_predict import fill_model_spec, fill_predict_response, parse_predict_proto

_CODES = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    404: grpc.StatusCode.NOT_FOUND,
    408: grpc.StatusCode.DEADLINE_EXCEEDED,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
}
_STATE_NUMBERS = get_model_status_pb2.ModelVersionStatus.State


def resolve(manager, model_spec):
    """The `ServedModel` a `ModelSpec` names; `RequestError` 404 if it is not served."""
    if model_spec.name != manager.name:
        raise RequestError(
            f"model '{model_spec.name}' not found: this server serves '{manager.name}'", 404
        )
    choice = model_spec.WhichOneof("version_choice")
    try:
        if choice == "version":
            return manager.get(version=model_spec.version.value)
        if choice == "version_label":
            return manager.get(label=model_spec.version_label)
        return manager.get()
    except VersionNotFoundError as error:
        raise RequestError(str(error), 404) from None


async def _abort(context, error):
    await context.abort(_CODES.get(error.status, grpc.StatusCode.INVALID_ARGUMENT), str(error))


class PredictionServicer(prediction_service_pb2_grpc.PredictionServiceServicer):
    """Predict and GetModelMetadata of the manager's model, through the server's batcher."""

    def __init__(self, manager, batcher, max_instances, max_request_bytes):
        self.manager = manager
        self.batcher = batcher
        self.max_instances = max_instances
        self.max_request_bytes = max_request_bytes

    async def Predict(self, request, context):
        try:
            model = resolve(self.manager, request.model_spec)
            parsed = parse_predict_proto(
                request, model.signatures, self.max_instances, self.max_request_bytes
            )
            try:
                outputs = await self.batcher.predict(parsed, model_key=(model.name, model.version))
            except (tf.errors.InvalidArgumentError, ValueError, TypeError) as error:
                raise RequestError(call_error_message(parsed.signature, error)) from None
        except RequestError as error:
            await _abort(context, error)
        return fill_predict_response(
            predict_pb2.PredictResponse(),
            model,
            parsed.signature,
            outputs,
            set(request.output_filter),
        )

    async def GetModelMetadata(self, request, context):
        try:
            model = resolve(self.manager, request.model_spec)
            fields = list(request.metadata_field)
            if not fields:
                raise RequestError("GetModelMetadataRequest must name a metadata_field")
            unsupported = [f for f in fields if f != "signature_def"]
            if unsupported:
                raise RequestError(
                    f"metadata field(s) {', '.join(unsupported)} not supported: only signature_def"
                )
        except RequestError as error:
            await _abort(context, error)
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        fill_model_spec(response.model_spec, model)
        defs = get_model_metadata_pb2.SignatureDefMap()
        for key, value in model.signature_defs.items():
            defs.signature_def[key].CopyFrom(value)
        packed = any_pb2.Any()
        packed.Pack(defs)
        response.metadata["signature_def"].CopyFrom(packed)
        return response

    async def Classify(self, request, context):
        await _unimplemented(context, "Classify")

    async def Regress(self, request, context):
        await _unimplemented(context, "Regress")

    async def MultiInference(self, request, context):
        await _unimplemented(context, "MultiInference")


class ModelServicer(model_service_pb2_grpc.ModelServiceServicer):
    """GetModelStatus of the manager's model."""

    def __init__(self, manager):
        self.manager = manager

    async def GetModelStatus(self, request, context):
        spec = request.model_spec
        try:
            if spec.name != self.manager.name:
                raise RequestError(
                    f"model '{spec.name}' not found: this server serves '{self.manager.name}'", 404
                )
            choice = spec.WhichOneof("version_choice")
            version = None
            if choice == "version":
                version = spec.version.value
            elif choice == "version_label":
                version = int(resolve(self.manager, spec).version)
            statuses = self.manager.status(version)
        except VersionNotFoundError as error:
            await _abort(context, RequestError(str(error), 404))
        except RequestError as error:
            await _abort(context, error)
        response = get_model_status_pb2.GetModelStatusResponse()
        for status in statuses:
            entry = response.model_version_status.add()
            entry.version = status.version
            entry.state = _STATE_NUMBERS.Value(status.state.value)
            entry.status.error_code = 2 if status.error else 0  # tensorflow.error.UNKNOWN / OK
            entry.status.error_message = status.error
        return response

    async def HandleReloadConfigRequest(self, request, context):
        await _unimplemented(context, "HandleReloadConfigRequest")


async def _unimplemented(context, method):
    await context.abort(
        grpc.StatusCode.UNIMPLEMENTED,
        f"{method} is not implemented by this server: it serves Predict, GetModelMetadata and "
        "GetModelStatus",
    )


async def start_grpc_server(manager, batcher, host, port, max_instances, max_request_bytes):
    """Starts the gRPC services on `host:port` (0: a free port); returns (server, port).

    Raises:
        OSError: if the address cannot be bound.
    """
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", max_request_bytes),
            ("grpc.so_reuseport", 0),
        ]
    )
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        PredictionServicer(manager, batcher, max_instances, max_request_bytes), server
    )
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelServicer(manager), server)
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        bound = server.add_insecure_port(address)
    except RuntimeError as error:
        raise OSError(f"cannot bind the gRPC server to {address}: {error}") from None
    if bound == 0:
        raise OSError(f"cannot bind the gRPC server to {address}")
    await server.start()
    return server, bound
