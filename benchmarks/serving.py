"""Requests/s and p50/p99 latency of the REST server, with and without batching, on loopback.

    python benchmarks/serving.py [MODEL] [--clients 16] [--seconds 30] [--image]
                                 [--max-batch-size 16] [--batch-timeout-ms 5] [--json PATH]

MODEL is an exported SavedModel (default `saved_models/scenes`: `make demo` creates it, or
`mmlm export --workdir runs/scenes --format savedmodel --out saved_models/scenes`). For each mode
(batching on, then off) the server is started in its own process, so that it does not share an
interpreter lock with the clients; after a warm-up, `--clients` concurrent clients (asyncio +
aiohttp, one request in flight each) send one-row `embed_text` predict requests (with `--image`,
every other request is a 64×64 `embed_image` request) for `--seconds`. Latency is measured by
the client, from sending the request to parsing the response. A request fails if it is not
answered with 200 and predictions; the script exits 1 if any failed.

Numbers are only meaningful on an otherwise idle machine: the load average is printed first.
"""

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

import aiohttp
import numpy as np

MODEL_NAME = "bench"
COLOURS = ("red", "green", "blue", "yellow", "purple", "orange", "white", "grey")
SHAPES = ("circle", "square", "triangle", "star", "digit three", "digit seven")
# The server in a fresh process: `mmlm.serving.server.serve` with the arguments after `-c`.
SERVER_CODE = (
    "import json, sys; from mmlm.serving.server import ServerConfig, serve; "
    "serve(sys.argv[1], name=sys.argv[2], config=ServerConfig(**json.loads(sys.argv[3])))"
)


def request_bodies(with_images, seed=0):
    """Encoded predict bodies the clients cycle through."""
    rng = np.random.default_rng(seed)
    texts = [f"a {colour} {shape}" for colour in COLOURS for shape in SHAPES]
    bodies = [{"signature_name": "embed_text", "instances": [text]} for text in texts]
    if with_images:
        images = rng.integers(0, 256, (len(bodies), 64, 64, 3), dtype=np.uint8)
        image_bodies = [
            {"signature_name": "embed_image", "instances": [image.tolist()]} for image in images
        ]
        bodies = [body for pair in zip(bodies, image_bodies) for body in pair]
    return [json.dumps(body).encode() for body in bodies]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model, config, log):
    """The server process for `model` with `config` (ServerConfig fields) on a free port."""
    config = dict(config, port=_free_port(), host="127.0.0.1")
    command = [sys.executable, "-c", SERVER_CODE, model, MODEL_NAME, json.dumps(config)]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    return process, f"http://127.0.0.1:{config['port']}/v1/models/{MODEL_NAME}"


async def wait_until_serving(url, process, log_path, timeout=300):
    """The model's metadata once the server answers; exits if the server died."""
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                with open(log_path) as f:
                    sys.exit(f"the server exited with {process.returncode}:\n{f.read()[-3000:]}")
            try:
                async with session.get(f"{url}/metadata") as response:
                    if response.status == 200:
                        return await response.json()
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.5)
    sys.exit(f"the server did not answer within {timeout} s")


async def _client(session, url, bodies, offset, deadline, result):
    i = offset
    while time.monotonic() < deadline:
        body = bodies[i % len(bodies)]
        i += 1
        start = time.perf_counter()
        try:
            async with session.post(url, data=body) as response:
                answer = await response.json(content_type=None)
            if response.status != 200 or "predictions" not in answer:
                raise RuntimeError(f"HTTP {response.status}: {str(answer)[:200]}")
        except Exception as error:  # noqa: BLE001  (every failure is counted and reported)
            result["errors"].append(f"{type(error).__name__}: {error}")
            continue
        result["latencies"].append(time.perf_counter() - start)


async def run_clients(url, bodies, clients, seconds):
    """{latencies (s), errors, seconds} of `clients` concurrent clients for `seconds`."""
    result = {"latencies": [], "errors": []}
    connector = aiohttp.TCPConnector(limit=clients)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        predict = f"{url}:predict"
        warmup = time.monotonic() + min(2.0, seconds)
        await asyncio.gather(
            *(_client(session, predict, bodies, c, warmup, result) for c in range(clients))
        )
        result["latencies"].clear()  # warm-up requests are not timed, but their errors count
        start = time.monotonic()
        deadline = start + seconds
        await asyncio.gather(
            *(_client(session, predict, bodies, c * 7, deadline, result) for c in range(clients))
        )
        result["seconds"] = time.monotonic() - start
    return result


def measure(args, bodies, mode, config):
    """One row of the table: the server in `mode` (ServerConfig fields `config`) under load."""
    with tempfile.NamedTemporaryFile("w+", suffix=".log") as log:
        process, url = start_server(args.model, config, log)
        try:
            metadata = asyncio.run(wait_until_serving(url, process, log.name))
            _check_signatures(metadata, bodies)
            result = asyncio.run(run_clients(url, bodies, args.clients, args.seconds))
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    latencies = np.asarray(result["latencies"]) * 1e3
    return {
        "mode": mode,
        "requests": len(latencies),
        "requests_per_s": len(latencies) / result["seconds"],
        "p50_ms": float(np.percentile(latencies, 50)) if len(latencies) else float("nan"),
        "p99_ms": float(np.percentile(latencies, 99)) if len(latencies) else float("nan"),
        "errors": len(result["errors"]),
        "first_errors": sorted(set(result["errors"]))[:5],
    }


def _check_signatures(metadata, bodies):
    available = metadata["metadata"]["signature_def"]["signature_def"]
    wanted = {json.loads(body)["signature_name"] for body in bodies}
    missing = sorted(wanted - set(available))
    if missing:
        sys.exit(f"the model has no signature {', '.join(missing)}; it has {', '.join(available)}")


def print_rows(args, rows, load):
    signatures = "embed_text + embed_image (64×64)" if args.image else "embed_text"
    print(
        f"serving {args.model}: {args.clients} clients × {args.seconds:g} s per mode, "
        f"{signatures}, 1 row per request, loopback"
    )
    print(
        f"load average before: {load:.2f} on {os.cpu_count()} cores"
        + ("  (other processes are running: numbers are contended)" if load > 0.5 else "")
    )
    print(f"{'mode':<30}{'requests/s':>11}{'p50 ms':>9}{'p99 ms':>9}{'requests':>10}{'errors':>8}")
    for row in rows:
        print(
            f"{row['mode']:<30}{row['requests_per_s']:>11.1f}{row['p50_ms']:>9.1f}"
            f"{row['p99_ms']:>9.1f}{row['requests']:>10}{row['errors']:>8}"
        )
    for row in rows:
        for error in row["first_errors"]:
            print(f"{row['mode']}: {error}", file=sys.stderr)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", default="saved_models/scenes")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--image", action="store_true", help="also send embed_image requests")
    parser.add_argument("--max-batch-size", type=int, default=16)
    parser.add_argument("--batch-timeout-ms", type=float, default=5.0)
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    if not os.path.isdir(args.model):
        sys.exit(
            f"no SavedModel at {args.model}: create it with `make demo`, or with `mmlm export "
            f"--workdir runs/scenes --format savedmodel --out {args.model}` after training"
        )
    load = os.getloadavg()[0]
    bodies = request_bodies(args.image)
    batching = {"max_batch_size": args.max_batch_size, "batch_timeout_ms": args.batch_timeout_ms}
    modes = [
        (f"batching (≤{args.max_batch_size} rows, {args.batch_timeout_ms:g} ms)", batching),
        ("no batching", {"batching": False}),
    ]
    rows = []
    for mode, config in modes:
        rows.append(measure(args, bodies, mode, config))
        print(f"measured {mode}: {rows[-1]['requests_per_s']:.1f} requests/s", file=sys.stderr)
    print_rows(args, rows, load)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"load_average": load, "args": vars(args), "rows": rows}, f, indent=2)
    return 1 if any(row["errors"] for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
