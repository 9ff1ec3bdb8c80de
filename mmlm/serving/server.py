"""An HTTP server speaking TensorFlow Serving's REST API for one SavedModel (aiohttp).

    GET  /v1/models/NAME[/versions/N]            status
    GET  /v1/models/NAME[/versions/N]/metadata   signatures (SignatureDefs)
    POST /v1/models/NAME[/versions/N]:predict    {"signature_name", "instances" | "inputs"}

so that a client written for TF Serving works unchanged (see `mmlm.serving.predict` for the
request formats). Concurrent requests are batched (`mmlm.serving.batching`) and the model runs
in worker threads, off the event loop. Every bad request gets a 4xx `{"error": "..."}` saying
what is wrong; an unknown model or version is a 404; errors inside the server are a 500 and
logged. The server binds to loopback unless told otherwise.
"""

import concurrent.futures
import dataclasses
import json
import logging
import os

from aiohttp import web

from mmlm.backend import tf
from mmlm.serving.batching import Batcher
from mmlm.serving.model import ServedModel, format_shape, load_model
from mmlm.serving.predict import RequestError, format_predict_response, parse_predict_request

logger = logging.getLogger(__name__)

MODEL = web.AppKey("model", ServedModel)
BATCHER = web.AppKey("batcher", Batcher)
MAX_REQUEST_BYTES = web.AppKey("max_request_bytes", int)
MAX_INSTANCES = web.AppKey("max_instances", int)
_NAME = "{name:[^/:]+}"
_VERSION = "{version:[0-9]+}"
_USAGE = (
    "this server answers GET /v1/models/NAME, GET /v1/models/NAME/metadata and "
    "POST /v1/models/NAME:predict (optionally with /versions/N after NAME)"
)


@dataclasses.dataclass(frozen=True)
class ServerConfig:
    """How the server listens and batches.

    Attributes:
        host: address to bind; loopback by default (`0.0.0.0` exposes the model to the network).
        port: TCP port (8501 is TF Serving's REST port; 0 picks a free one).
        max_batch_size: rows of one batched model call at most.
        batch_timeout_ms: how long a request waits for others to join its batch.
        max_request_bytes: larger request bodies are refused with 413.
        max_instances: requests with more rows (instances, or the leading dimension of
            columnar inputs) are refused with 413.
        batching: False runs every request on its own (same as `max_batch_size=1`).
        num_threads: worker threads running the model (0: one per CPU core).
    """

    host: str = "127.0.0.1"
    port: int = 8501
    max_batch_size: int = 16
    batch_timeout_ms: float = 5.0
    max_request_bytes: int = 32 * 1024 * 1024
    max_instances: int = 1024
    batching: bool = True
    num_threads: int = 0

    def __post_init__(self):
        minimums = (
            ("max_batch_size", 1),
            ("max_request_bytes", 1),
            ("max_instances", 1),
            ("num_threads", 0),
        )
        for field, low in minimums:
            if getattr(self, field) < low:
                raise ValueError(f"{field} must be at least {low}, got {getattr(self, field)}")
        if self.batch_timeout_ms < 0:
            raise ValueError(f"batch_timeout_ms must be >= 0, got {self.batch_timeout_ms}")

    @property
    def effective_max_batch_size(self):
        return self.max_batch_size if self.batching else 1


def create_app(model, config=ServerConfig()):
    """The aiohttp application serving `model` (a `ServedModel`) with `config`."""
    app = web.Application(middlewares=[_json_errors], client_max_size=config.max_request_bytes)
    executor = concurrent.futures.ThreadPoolExecutor(
        max_workers=config.num_threads or os.cpu_count() or 1,
        thread_name_prefix="mmlm-serving",
    )
    app[MODEL] = model
    app[MAX_REQUEST_BYTES] = config.max_request_bytes
    app[MAX_INSTANCES] = config.max_instances
    app[BATCHER] = Batcher(executor, config.effective_max_batch_size, config.batch_timeout_ms)
    for prefix in (f"/v1/models/{_NAME}", f"/v1/models/{_NAME}/versions/{_VERSION}"):
        app.router.add_get(prefix, model_status)
        app.router.add_get(prefix + "/metadata", model_metadata)
        app.router.add_post(prefix + ":{verb:[A-Za-z]+}", predict)
    app.on_cleanup.append(_close)
    return app


async def _close(app):
    app[BATCHER].close()
    app[BATCHER].executor.shutdown(wait=False, cancel_futures=True)


def _served_model(request):
    """The model named by the request's path; `RequestError` 404 for another name or version."""
    model = request.app[MODEL]
    name, version = request.match_info["name"], request.match_info.get("version")
    if name != model.name:
        raise RequestError(f"model '{name}' not found: this server serves '{model.name}'", 404)
    if version is not None and version != model.version:
        raise RequestError(
            f"version {version} of model '{name}' not found: the served version is {model.version}",
            404,
        )
    return model


async def model_status(request):
    """`GET /v1/models/NAME`: the version status, as TF Serving reports it."""
    return _json(_served_model(request).status())


async def model_metadata(request):
    """`GET /v1/models/NAME/metadata`: the signatures, as TF Serving reports them."""
    return _json(_served_model(request).metadata())


async def predict(request):
    """`POST /v1/models/NAME:predict`: runs a signature on the request's inputs."""
    model = _served_model(request)
    verb = request.match_info["verb"]
    if verb != "predict":
        raise RequestError(f"':{verb}' is not supported: this server implements ':predict' only")
    body = await _read_body(request)
    parsed = parse_predict_request(body, model.signatures, request.app[MAX_INSTANCES])
    try:
        outputs = await request.app[BATCHER].predict(parsed)
    except (tf.errors.InvalidArgumentError, ValueError, TypeError) as error:
        raise RequestError(f"{_rejected(parsed.signature)}: {_op_message(error)}") from None
    return _json(format_predict_response(outputs, parsed.row_format))


async def _read_body(request):
    message = _too_large(request)
    if (request.content_length or 0) > request.app[MAX_REQUEST_BYTES]:
        raise RequestError(f"{message}; Content-Length: {request.content_length}", 413)
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise RequestError(message, 413) from None


def _rejected(signature):
    names = sorted(signature.inputs)
    what = f"input '{names[0]}'" if len(names) == 1 else f"inputs ({', '.join(names)})"
    return f"signature '{signature.name}' failed on its {what}"


def _too_large(request):
    limit = request.app[MAX_REQUEST_BYTES]
    return f"the request body exceeds the server's limit of {limit} bytes (max_request_bytes)"


def _op_message(error):
    """The useful part of a TensorFlow error: the op's message without the Python traceback
    TensorFlow puts in front of it (`Graph execution error: Detected at node ...`)."""
    if not isinstance(error, tf.errors.OpError):
        return str(error)
    lines = [line for line in error.message.splitlines() if line.strip()]
    for i, line in enumerate(lines):
        if line.lstrip().startswith("[[") and i > 0:  # `[[{{node ...}}]]` follows the message
            return lines[i - 1].strip()
    return lines[-1].strip() if lines else type(error).__name__


def _json(body, status=200):
    return web.json_response(body, status=status, dumps=_dumps)


def _dumps(body):
    return json.dumps(body, separators=(",", ":"))


@web.middleware
async def _json_errors(request, handler):
    """Turns every error into a JSON `{"error": "..."}` response; the server keeps serving."""
    try:
        return await handler(request)
    except RequestError as error:
        return _json({"error": str(error)}, error.status)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        return _json({"error": _http_error_message(request, error)}, error.status)
    except Exception as error:  # noqa: BLE001  (a bug must not take the server down)
        logger.exception("internal error answering %s %s", request.method, request.path)
        message = f"internal server error: {type(error).__name__}: {_op_message(error)}"
        return _json({"error": message}, 500)


def _http_error_message(request, error):
    if isinstance(error, web.HTTPMethodNotAllowed):
        allowed = ", ".join(sorted(error.allowed_methods - {"HEAD"}))
        return f"{request.method} is not allowed on {request.path} (use {allowed})"
    if isinstance(error, web.HTTPNotFound):
        return f"no endpoint {request.method} {request.path}: {_USAGE}"
    if isinstance(error, web.HTTPRequestEntityTooLarge):
        return _too_large(request)
    return error.reason


def describe(model, url):
    """Lines telling what is served where (printed when the server starts)."""
    lines = [f"serving model '{model.name}' version {model.version} from {model.path}"]
    for name, signature in sorted(model.signatures.items()):
        inputs = ", ".join(
            f"{k}: {s.dtype.name}{format_shape(s.shape)}"
            for k, s in sorted(signature.inputs.items())
        )
        lines.append(f"  signature {name}({inputs})")
    lines.append(
        f"status: {url}/v1/models/{model.name}   predict: POST {url}/v1/models/{model.name}:predict"
    )
    return lines


def serve(model_path, name=None, config=ServerConfig()):
    """Loads the SavedModel at `model_path` and serves it until interrupted (Ctrl-C).

    Args:
        model_path: a SavedModel directory or a TF Serving base directory (`PATH/1/...`).
        name: the model name in the REST paths (default: the directory name).
        config: a `ServerConfig`.
    Raises:
        FileNotFoundError: if there is no SavedModel at `model_path`.
    """
    model = load_model(model_path, name)
    for line in describe(model, f"http://{config.host}:{config.port}"):
        print(line, flush=True)
    if config.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"listening on {config.host}: anyone who can reach this port can query the model")
    batching = (
        f"batches of up to {config.max_batch_size} rows, {config.batch_timeout_ms} ms timeout"
        if config.effective_max_batch_size > 1
        else "no batching"
    )
    limits = f"requests up to {config.max_request_bytes} bytes and {config.max_instances} rows"
    print(f"{batching}; {limits}; Ctrl-C stops", flush=True)
    web.run_app(
        create_app(model, config), host=config.host, port=config.port, print=None, access_log=None
    )
