"""The REST (and gRPC) server on a background thread of this process (tests, benchmarks)."""

import asyncio
import socket
import threading

from aiohttp import web

from mmlm.serving.server import BATCHER, GRPC, MANAGER, ServerConfig, create_app


class ServerThread:
    """Serves a model from a daemon thread with its own event loop.

    Args:
        served: a started `ModelManager` or a `ServedModel` (`mmlm.serving.model.load_model`).
        config: a `ServerConfig`; its default here binds a free port on 127.0.0.1.

    Example:
        with ServerThread(load_model("saved_models/scenes")) as server:
            requests.get(f"{server.url}/v1/models/scenes").json()
    """

    def __init__(self, served, config=ServerConfig(port=0)):
        self.config = config
        self.port = None
        self._app = create_app(served, config)
        self._ready = threading.Event()
        self._error = None
        self._loop = None
        self._stop = None
        self._thread = threading.Thread(target=self._run, name="mmlm-server", daemon=True)

    @property
    def url(self):
        """`http://HOST:PORT` of the running server."""
        return f"http://{self.config.host}:{self.port}"

    @property
    def grpc_address(self):
        """`HOST:PORT` of the gRPC server (None without one)."""
        port = self._app[GRPC].port
        return None if port is None else f"{self.config.host}:{port}"

    @property
    def manager(self):
        """The `ModelManager` whose versions are served."""
        return self._app[MANAGER]

    @property
    def model(self):
        """The highest version served now (a `ServedModel`)."""
        return self.manager.get()

    @property
    def batcher(self):
        """The server's `Batcher` (its `stats` tell how requests were batched)."""
        return self._app[BATCHER]

    def start(self, timeout=30):
        """Starts serving; returns once the port accepts connections."""
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError(f"the server did not start within {timeout} s")
        if self._error is not None:
            raise self._error
        return self

    def stop(self, timeout=60):
        """Stops serving (draining requests in flight) and waits for the thread to end."""
        if self._loop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(timeout)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    def _run(self):
        try:
            asyncio.run(self._serve())
        except BaseException as error:  # noqa: BLE001  (reported to the starting thread)
            self._error = error
            self._ready.set()

    async def _serve(self):
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        runner = web.AppRunner(
            self._app,
            access_log=None,
            shutdown_timeout=self.config.drain_timeout_s,
        )
        await runner.setup()
        try:
            await web.SockSite(runner, self._bind()).start()
            self._ready.set()
            await self._stop.wait()
        finally:
            await runner.cleanup()

    def _bind(self):
        """A socket bound to the configured address (port 0: a free one, then recorded)."""
        family = socket.AF_INET6 if ":" in self.config.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.bind((self.config.host, self.config.port))
        except OSError:
            sock.close()
            raise
        self.port = sock.getsockname()[1]
        return sock
