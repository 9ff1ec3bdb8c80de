"""`mmlm serve`: the TensorFlow-Serving-compatible REST (and gRPC) server for a SavedModel."""

import argparse


def _at_least(parse, minimum, expected):
    """An argparse `type` parsing with `parse` and rejecting values below `minimum`."""

    def parse_bounded(text):
        value = parse(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be {expected}, got {text}")
        return value

    return parse_bounded


_positive_int = _at_least(int, 1, "a positive integer")
_non_negative_int = _at_least(int, 0, ">= 0")
_non_negative_float = _at_least(float, 0, ">= 0")
_positive_float = _at_least(float, 1e-3, "positive")


def _version_policy(text):
    from mmlm.serving.version_policy import VersionPolicy

    try:
        return VersionPolicy.parse(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _version_label(text):
    label, _, version = text.partition("=")
    if not label or not version.isdigit():
        raise argparse.ArgumentTypeError(f"expected LABEL=VERSION (e.g. stable=2), got {text!r}")
    return label, int(version)


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "serve",
        help="serve a SavedModel over TensorFlow Serving's REST (and gRPC) API",
        description=(
            "Serves the signatures of a SavedModel at GET /v1/models/NAME (status), "
            "GET /v1/models/NAME/metadata and POST /v1/models/NAME:predict, as TensorFlow "
            "Serving does, batching concurrent requests; with --grpc-port, also TF Serving's "
            "gRPC PredictionService and ModelService. MODEL is a SavedModel directory or a "
            "TF Serving base directory with numeric version subdirectories (MODEL/1, MODEL/2, "
            "...), of which --version-policy picks the versions to serve; the base directory "
            "is polled for new and removed versions. SIGTERM or Ctrl-C drains requests in "
            "flight, then exits."
        ),
    )
    parser.add_argument(
        "--model",
        required=True,
        help="SavedModel directory (e.g. saved_models/scenes) or base directory of versions",
    )
    parser.add_argument(
        "--name", default=None, help="model name in the URLs (default: directory name)"
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default: loopback only)"
    )
    parser.add_argument(
        "--port", type=int, default=8501, help="TCP port (default: 8501, as TF Serving)"
    )
    parser.add_argument(
        "--grpc-port",
        type=_non_negative_int,
        default=None,
        help="also serve TF Serving's gRPC API on this port (TF Serving uses 8500; "
        "default: no gRPC server)",
    )
    parser.add_argument(
        "--version-policy",
        type=_version_policy,
        default="latest:1",
        help="versions of a base directory to serve: latest:N (the N highest), all, or "
        "specific:V1,V2 (default: latest:1, as TF Serving)",
    )
    parser.add_argument(
        "--poll-seconds",
        type=_non_negative_float,
        default=1.0,
        help="how often the base directory is checked for new or removed versions "
        "(0: only at start; default: 1)",
    )
    parser.add_argument(
        "--version-label",
        type=_version_label,
        action="append",
        default=[],
        metavar="LABEL=VERSION",
        help="serve version VERSION at /v1/models/NAME/labels/LABEL too (repeatable)",
    )
    parser.add_argument(
        "--max-batch-size",
        type=_positive_int,
        default=16,
        help="rows per batched call (default: 16)",
    )
    parser.add_argument(
        "--batch-timeout-ms",
        type=_non_negative_float,
        default=5.0,
        help="how long a request waits for others to join its batch (default: 5)",
    )
    parser.add_argument(
        "--max-request-bytes",
        type=_positive_int,
        default=32 * 1024 * 1024,
        help="larger request bodies get 413 (default: 32 MiB)",
    )
    parser.add_argument(
        "--max-instances",
        type=_positive_int,
        default=1024,
        help="requests with more rows (instances) get 413 (default: 1024)",
    )
    parser.add_argument("--no-batching", action="store_true", help="run every request on its own")
    parser.add_argument(
        "--num-threads",
        type=_non_negative_int,
        default=0,
        help="threads running the model (default: one per core)",
    )
    parser.add_argument(
        "--read-timeout-seconds",
        type=_positive_float,
        default=30.0,
        help="a request body must arrive within this (else 408), and an idle or slow "
        "connection is closed after it (default: 30)",
    )
    parser.add_argument(
        "--drain-seconds",
        type=_non_negative_float,
        default=30.0,
        help="on SIGTERM/Ctrl-C, how long requests in flight may take to finish (default: 30)",
    )
    parser.set_defaults(run=run_serve)


def run_serve(args):
    from mmlm.serving.server import ServerConfig, serve

    config = ServerConfig(
        host=args.host,
        port=args.port,
        max_batch_size=args.max_batch_size,
        batch_timeout_ms=args.batch_timeout_ms,
        max_request_bytes=args.max_request_bytes,
        max_instances=args.max_instances,
        batching=not args.no_batching,
        num_threads=args.num_threads,
        grpc_port=args.grpc_port,
        version_policy=args.version_policy,
        poll_seconds=args.poll_seconds,
        version_labels=dict(args.version_label),
        read_timeout_s=args.read_timeout_seconds,
        drain_timeout_s=args.drain_seconds,
    )
    serve(args.model, name=args.name, config=config)
    return 0
