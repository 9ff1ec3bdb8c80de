"""`ServerConfig`: how `mmlm serve` listens, batches, limits requests and follows versions."""

import dataclasses

from mmlm.serving.version_policy import VersionPolicy

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


@dataclasses.dataclass(frozen=True)
class ServerConfig:
    """How the server listens, batches, limits requests and follows model versions.

    Attributes:
        host: address to bind, REST and gRPC; loopback by default (`0.0.0.0` exposes the model
            to the network).
        port: REST port (8501 is TF Serving's; 0 picks a free one).
        grpc_port: gRPC port (TF Serving uses 8500; 0 picks a free one); None: no gRPC server.
        max_batch_size: rows of one batched model call at most.
        batch_timeout_ms: how long a request waits for others to join its batch.
        max_request_bytes: larger request bodies (and gRPC messages, and gRPC tensors once
            decoded) are refused with 413 / RESOURCE_EXHAUSTED.
        max_instances: requests with more rows (instances, or the leading dimension of
            columnar inputs) are refused with 413 / RESOURCE_EXHAUSTED.
        batching: False runs every request on its own (same as `max_batch_size=1`).
        num_threads: worker threads running the model (0: one per CPU core).
        read_timeout_s: a request body must arrive within this (else 408), and a connection
            must send a complete request head within this of opening or of its last response
            (else it is closed): slow clients cannot hold connections open.
        drain_timeout_s: on SIGTERM or SIGINT, requests in flight get this long to finish
            (new connections are refused meanwhile) before the server exits.
        version_policy: which versions of a model base directory to serve.
        poll_seconds: how often a model base directory is checked for new and removed
            versions; 0: only at start.
        version_labels: {label: version} for `/v1/models/NAME/labels/LABEL` requests.
    """

    host: str = "127.0.0.1"
    port: int = 8501
    grpc_port: int = None
    max_batch_size: int = 16
    batch_timeout_ms: float = 5.0
    max_request_bytes: int = 32 * 1024 * 1024
    max_instances: int = 1024
    batching: bool = True
    num_threads: int = 0
    read_timeout_s: float = 30.0
    drain_timeout_s: float = 30.0
    version_policy: VersionPolicy = VersionPolicy()
    poll_seconds: float = 1.0
    version_labels: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        minimums = (
            ("max_batch_size", 1),
            ("max_request_bytes", 1),
            ("max_instances", 1),
            ("num_threads", 0),
            ("batch_timeout_ms", 0),
            ("poll_seconds", 0),
            ("drain_timeout_s", 0),
        )
        for field, low in minimums:
            if getattr(self, field) < low:
                raise ValueError(f"{field} must be at least {low}, got {getattr(self, field)}")
        if self.read_timeout_s <= 0:
            raise ValueError(f"read_timeout_s must be positive, got {self.read_timeout_s}")
        if self.grpc_port is not None and self.grpc_port < 0:
            raise ValueError(f"grpc_port must be >= 0 or None, got {self.grpc_port}")
        if isinstance(self.version_policy, str):
            object.__setattr__(self, "version_policy", VersionPolicy.parse(self.version_policy))
        for label, version in self.version_labels.items():
            if not isinstance(label, str) or not label or not isinstance(version, int):
                raise ValueError(
                    f"version_labels maps label names to version numbers, got {label!r}: "
                    f"{version!r}"
                )

    @property
    def effective_max_batch_size(self):
        return self.max_batch_size if self.batching else 1

    @property
    def loopback(self):
        return self.host in LOOPBACK_HOSTS
