"""An HTTP server speaking TensorFlow Serving's REST API (aiohttp), with its gRPC API beside it.

    GET  /v1/models/NAME[/versions/V | /labels/L]            version status
    GET  /v1/models/NAME[/versions/V | /labels/L]/metadata   signatures (SignatureDefs)
    POST /v1/models/NAME[/versions/V | /labels/L]:predict    {"signature_name", "instances"
                                                              | "inputs"}

so that a client written for TF Serving works unchanged (see `mmlm.serving.predict` for the
request formats). Without a version, a request goes to the highest available version. The
versions come from a `ModelManager` (a model base directory polled for new versions, or one
SavedModel); the optional gRPC services (`mmlm.serving.grpc_server`) share the same models and
batcher. Concurrent requests are batched (`mmlm.serving.batching`) and the model runs in worker
threads, off the event loop. Every bad request gets a 4xx `{"error": "..."}` saying what is
wrong; an unknown model, version or label is a 404; errors inside the server are a 500 and
logged. The server binds to loopback unless told otherwise; on SIGTERM it stops accepting
connections and drains the requests in flight before exiting.
"""

import asyncio
import concurrent.futures
import dataclasses
import json
import logging
import os

from aiohttp import web

from mmlm.backend import tf
from mmlm.serving.batching import Batcher
from mmlm.serving.model import call_error_message, format_shape, op_message
from mmlm.serving.model_manager import ModelManager, VersionNotFoundError, load_and_warm_up
from mmlm.serving.predict import RequestError, format_predict_response, parse_predict_request
from mmlm.serving.server_config import ServerConfig

__all__ = ["ServerConfig", "create_app", "describe", "serve"]

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class GrpcEndpoint:
    """The running gRPC server of an app (None until started) and its bound port."""

    server: object = None
    port: int = None


MANAGER = web.AppKey("manager", ModelManager)
BATCHER = web.AppKey("batcher", Batcher)
CONFIG = web.AppKey("config", ServerConfig)
GRPC = web.AppKey("grpc", GrpcEndpoint)
_NAME = "{name:[^/:]+}"
_USAGE = (
    "this server answers GET /v1/models/NAME, GET /v1/models/NAME/metadata and "
    "POST /v1/models/NAME:predict (optionally with /versions/N or /labels/LABEL after NAME)"
)


def create_app(served, config=ServerConfig()):
    """The aiohttp application serving `served` with `config`.

    Args:
        served: a started `ModelManager`, or one `ServedModel` (served as its only version).
        config: a `ServerConfig`; with `grpc_port` set, the gRPC services start with the app.
    """
    manager = served if isinstance(served, ModelManager) else ModelManager.serving(served)
    app = web.Application(
        middlewares=[_json_errors],
        client_max_size=config.max_request_bytes,
        # An idle connection, or one whose request head is still incomplete, is closed after
        # read_timeout_s; after answering a request whose body was not read (413, 408), the
        # rest is read and dropped for at most this long (aiohttp's default 10 s), then closed.
        handler_args={
            "keepalive_timeout": config.read_timeout_s,
            "lingering_time": min(10.0, config.read_timeout_s),
        },
    )
    executor = concurrent.futures.ThreadPoolExecutor(
        max_workers=config.num_threads or os.cpu_count() or 1,
        thread_name_prefix="mmlm-serving",
    )
    app[MANAGER] = manager
    app[CONFIG] = config
    app[GRPC] = GrpcEndpoint()
    app[BATCHER] = Batcher(executor, config.effective_max_batch_size, config.batch_timeout_ms)
    base = f"/v1/models/{_NAME}"
    for prefix in (base, base + "/versions/{version:[0-9]+}", base + "/labels/{label:[^/:]+}"):
        app.router.add_get(prefix, model_status)
        app.router.add_get(prefix + "/metadata", model_metadata)
        app.router.add_post(prefix + ":{verb:[A-Za-z]+}", predict)
    if config.grpc_port is not None:
        app.on_startup.append(_start_grpc)
    app.on_shutdown.append(_stop_grpc)
    app.on_cleanup.append(_close)
    return app


async def _start_grpc(app):
    from mmlm.serving.grpc_server import start_grpc_server

    config = app[CONFIG]
    app[GRPC].server, app[GRPC].port = await start_grpc_server(
        app[MANAGER],
        app[BATCHER],
        config.host,
        config.grpc_port,
        config.max_instances,
        config.max_request_bytes,
    )


async def _stop_grpc(app):
    """Refuses new RPCs and lets those in flight finish (up to the drain timeout)."""
    if app[GRPC].server is not None:
        await app[GRPC].server.stop(app[CONFIG].drain_timeout_s)


async def _close(app):
    app[BATCHER].close()
    app[BATCHER].executor.shutdown(wait=False, cancel_futures=True)
    await asyncio.get_running_loop().run_in_executor(None, app[MANAGER].stop)


def _served_model(request):
    """The version the request's path names; `RequestError` 404 if it is not served."""
    manager = request.app[MANAGER]
    name = request.match_info["name"]
    if name != manager.name:
        raise RequestError(f"model '{name}' not found: this server serves '{manager.name}'", 404)
    try:
        return manager.get(request.match_info.get("version"), request.match_info.get("label"))
    except VersionNotFoundError as error:
        raise RequestError(str(error), 404) from None


async def model_status(request):
    """`GET /v1/models/NAME[/versions/V]`: the versions' states, as TF Serving reports them."""
    manager = request.app[MANAGER]
    _check_name(request, manager)
    version = request.match_info.get("version")
    if "label" in request.match_info:
        version = _served_model(request).version
    try:
        statuses = manager.status(version)
    except VersionNotFoundError as error:
        raise RequestError(str(error), 404) from None
    return _json({"model_version_status": [status.to_json() for status in statuses]})


def _check_name(request, manager):
    name = request.match_info["name"]
    if name != manager.name:
        raise RequestError(f"model '{name}' not found: this server serves '{manager.name}'", 404)


async def model_metadata(request):
    """`GET /v1/models/NAME[/versions/V]/metadata`: the signatures, as TF Serving reports them."""
    return _json(_served_model(request).metadata())


async def predict(request):
    """`POST /v1/models/NAME[/versions/V]:predict`: runs a signature on the request's inputs."""
    model = _served_model(request)
    verb = request.match_info["verb"]
    if verb != "predict":
        raise RequestError(f"':{verb}' is not supported: this server implements ':predict' only")
    body = await _read_body(request)
    parsed = parse_predict_request(body, model.signatures, request.app[CONFIG].max_instances)
    try:
        outputs = await request.app[BATCHER].predict(parsed, model_key=(model.name, model.version))
    except (tf.errors.InvalidArgumentError, ValueError, TypeError) as error:
        raise RequestError(call_error_message(parsed.signature, error)) from None
    return _json(format_predict_response(outputs, parsed.row_format))


async def _read_body(request):
    config = request.app[CONFIG]
    message = _too_large(request)
    if (request.content_length or 0) > config.max_request_bytes:
        raise RequestError(f"{message}; Content-Length: {request.content_length}", 413)
    try:
        async with asyncio.timeout(config.read_timeout_s):
            return await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise RequestError(message, 413) from None
    except TimeoutError:
        raise RequestError(
            f"the request body did not arrive within {config.read_timeout_s:g} s (read_timeout_s)",
            408,
        ) from None


def _too_large(request):
    limit = request.app[CONFIG].max_request_bytes
    return f"the request body exceeds the server's limit of {limit} bytes (max_request_bytes)"


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
    except Exception as error:
        logger.exception("internal error answering %s %s", request.method, request.path)
        message = f"internal server error: {type(error).__name__}: {op_message(error)}"
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


def describe(manager, url, grpc_address=None):
    """Lines telling what is served where (printed when the server starts)."""
    served = manager.served
    model = served[max(served)]
    versions = ", ".join(str(v) for v in sorted(served))
    source = f"base directory {manager.path}" if manager.polls_directory else model.path
    plural = "s" if len(served) > 1 else ""
    lines = [f"serving model '{manager.name}' version{plural} {versions} from {source}"]
    if manager.polls_directory:
        poll = f"every {manager.poll_seconds:g} s" if manager.poll_seconds else "at start only"
        lines.append(f"  version policy {manager.policy}; the directory is checked {poll}")
    for label, version in sorted(manager.labels.items()):
        lines.append(f"  label {label} -> version {version}")
    for name, signature in sorted(model.signatures.items()):
        inputs = ", ".join(
            f"{k}: {s.dtype.name}{format_shape(s.shape)}"
            for k, s in sorted(signature.inputs.items())
        )
        lines.append(f"  signature {name}({inputs})")
    lines.append(
        f"status: {url}/v1/models/{manager.name}   "
        f"predict: POST {url}/v1/models/{manager.name}:predict"
    )
    if grpc_address:
        lines.append(f"gRPC PredictionService and ModelService: {grpc_address}")
    return lines


def build_manager(
    model_path, name=None, config=ServerConfig(), log=logger.info, loader=load_and_warm_up
):
    """A started `ModelManager` for `model_path` with `config`'s version settings."""
    manager = ModelManager(
        model_path,
        name,
        policy=config.version_policy,
        poll_seconds=config.poll_seconds,
        labels=config.version_labels,
        loader=loader,
        log=log,
    )
    return manager.start()


def serve(model_path, name=None, config=ServerConfig()):
    """Loads the model at `model_path` and serves it until SIGINT or SIGTERM.

    Args:
        model_path: a SavedModel directory or a TF Serving base directory (`PATH/1/...`).
        name: the model name in the REST paths (default: the directory name).
        config: a `ServerConfig`.
    Raises:
        FileNotFoundError: if there is no SavedModel at `model_path`.
        RuntimeError: if no version could be loaded.
    """

    def log(line):
        print(line, flush=True)

    manager = build_manager(model_path, name, config, log)
    grpc = f"{config.host}:{config.grpc_port}" if config.grpc_port is not None else None
    for line in describe(manager, f"http://{config.host}:{config.port}", grpc):
        log(line)
    if not config.loopback:
        log(f"listening on {config.host}: anyone who can reach this port can query the model")
    batching = (
        f"batches of up to {config.max_batch_size} rows, {config.batch_timeout_ms} ms timeout"
        if config.effective_max_batch_size > 1
        else "no batching"
    )
    limits = f"requests up to {config.max_request_bytes} bytes and {config.max_instances} rows"
    log(f"{batching}; {limits}; Ctrl-C or SIGTERM stops (draining requests in flight)")
    web.run_app(
        create_app(manager, config),
        host=config.host,
        port=config.port,
        print=None,
        access_log=None,
        shutdown_timeout=config.drain_timeout_s,
    )
    log("stopped")
