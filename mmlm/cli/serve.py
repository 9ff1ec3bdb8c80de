"""`mmlm serve`: the TensorFlow-Serving-compatible REST server for a SavedModel."""

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


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "serve",
        help="serve a SavedModel over TensorFlow Serving's REST API",
        description=(
            "Serves the signatures of a SavedModel at GET /v1/models/NAME (status), "
            "GET /v1/models/NAME/metadata and POST /v1/models/NAME:predict, as TensorFlow "
            "Serving does, batching concurrent requests. MODEL is a SavedModel directory or a "
            "TF Serving base directory with numeric version subdirectories (the highest is "
            "served)."
        ),
    )
    parser.add_argument(
        "--model", required=True, help="SavedModel directory (e.g. saved_models/scenes)"
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
    )
    serve(args.model, name=args.name, config=config)
    return 0
