"""`mmlm serve` in its own process: a base directory of versions polled for new ones, warmup at
load, REST and gRPC side by side, and SIGTERM draining the requests in flight before exit."""

import concurrent.futures
import ipaddress
import os
import signal
import sys
import tempfile
import time

import numpy as np
import requests

from mmlm.testing import TestCase, processes
from mmlm.testing.serving import (
    add_version,
    build_toy_saved_model,
    grpc_stubs,
    predict_proto,
    wait_until,
)

# `mmlm serve ARGS` with only the serve subcommand (mmlm.cli.main wires in the same parser).
SERVE_COMMAND = (
    "import argparse, sys; from mmlm.cli import serve; parser = argparse.ArgumentParser(); "
    "serve.add_parser(parser.add_subparsers()); args = parser.parse_args(sys.argv[1:]); "
    "sys.exit(args.run(args))"
)
BATCH_WAIT_MS = 3000  # a lone request waits this long for others: it is in flight at SIGTERM


class ServeCommandTest(TestCase):
    def test_versions_grpc_and_sigterm_drain(self):
        with tempfile.TemporaryDirectory() as directory:
            model = build_toy_saved_model(os.path.join(directory, "toy"), warmup=True)
            base = os.path.join(directory, "m")
            add_version(model, base, 1)
            port, grpc_port = processes.free_ports(2)
            process = processes.start(
                [sys.executable, "-c", SERVE_COMMAND, "serve", "--model", base]
                + ["--port", str(port), "--grpc-port", str(grpc_port), "--max-instances", "2"]
                + ["--version-policy", "latest:1", "--poll-seconds", "0.2"]
                + ["--batch-timeout-ms", str(BATCH_WAIT_MS), "--drain-seconds", "20"]
            )
            url = f"http://127.0.0.1:{port}/v1/models/m"
            terminated = False
            try:
                self.assertEqual("1", _wait_for(url, process)["version"])
                # Nothing given but ports: REST and gRPC listen on loopback only.
                self.assertEqual({"127.0.0.1"}, _listening_on(port))
                self.assertEqual({"127.0.0.1"}, _listening_on(grpc_port))
                response = requests.post(f"{url}:predict", json={"inputs": ["a"] * 3}, timeout=30)
                self.assertEqual(413, response.status_code, response.text)
                add_version(model, base, 2)
                wait_until(lambda: _available(url) == ["2"], what="version 2 served alone")
                with concurrent.futures.ThreadPoolExecutor(2) as pool:
                    rest = pool.submit(_rest_predict, url)
                    rpc = pool.submit(_grpc_predict, f"127.0.0.1:{grpc_port}")
                    time.sleep(1.0)  # both wait in the batcher for BATCH_WAIT_MS
                    process.send_signal(signal.SIGTERM)
                    terminated = True
                    time.sleep(0.5)
                    with self.assertRaises(requests.ConnectionError):  # draining: no new ones
                        requests.get(url, timeout=5)
                    self.assertEqual(200, rest.result().status_code, rest.result().text)
                    self.assertEqual(2, rpc.result().model_spec.version.value)
            finally:
                if not terminated:
                    process.send_signal(signal.SIGTERM)
            stdout = processes.finish(process, timeout=60, what="mmlm serve")
        self.assertIn("model 'm' version 1 available from", stdout)
        self.assertIn("7 warmup requests replayed", stdout)
        self.assertIn("version policy latest:1; the directory is checked every 0.2 s", stdout)
        self.assertIn(f"gRPC PredictionService and ModelService: 127.0.0.1:{grpc_port}", stdout)
        self.assertIn("model 'm' version 1 unloaded", stdout)
        self.assertIn("and 2 rows", stdout)
        self.assertTrue(stdout.rstrip().endswith("stopped"), stdout[-500:])


def _listening_on(port):
    """The local addresses of the sockets listening on TCP `port` (from /proc/net/tcp{,6})."""
    addresses = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                local, state = line.split()[1], line.split()[3]
                address, port_hex = local.split(":")
                if state == "0A" and int(port_hex, 16) == port:  # 0A: LISTEN
                    addresses.add(_ip(address))
    return addresses


def _ip(hex_address):
    """An address of /proc/net/tcp (little-endian 32-bit words) as text."""
    raw = b"".join(
        bytes.fromhex(hex_address[i : i + 8])[::-1] for i in range(0, len(hex_address), 8)
    )
    address = ipaddress.ip_address(raw)
    mapped = getattr(address, "ipv4_mapped", None)  # gRPC binds ::ffff:127.0.0.1
    return str(mapped or address)


class DefaultsTest(TestCase):
    def test_loopback_and_tf_serving_defaults(self):
        import argparse

        from mmlm.cli import serve
        from mmlm.serving.server import ServerConfig

        parser = argparse.ArgumentParser()
        serve.add_parser(parser.add_subparsers())
        args = parser.parse_args(["serve", "--model", "m"])
        self.assertEqual(("127.0.0.1", 8501, None), (args.host, args.port, args.grpc_port))
        self.assertEqual("latest:1", str(args.version_policy))
        config = ServerConfig()
        self.assertEqual(("127.0.0.1", None), (config.host, config.grpc_port))
        self.assertTrue(config.loopback)


def _rest_predict(url):
    return requests.post(f"{url}:predict", json={"instances": ["in flight"]}, timeout=60)


def _grpc_predict(address):
    with grpc_stubs(address) as (predictions, _):
        request = predict_proto("m", "embed_text", {"text": np.array([b"in flight"], object)})
        return predictions.Predict(request, timeout=60)


def _available(url):
    statuses = requests.get(url, timeout=5).json()["model_version_status"]
    return [s["version"] for s in statuses if s["state"] == "AVAILABLE"]


def _wait_for(url, process, timeout=120):
    """The first version status at `url` once the server answers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited: {process.communicate()}")
        try:
            return requests.get(url, timeout=5).json()["model_version_status"][0]
        except requests.ConnectionError:
            time.sleep(0.2)
    raise AssertionError(f"no answer from {url} within {timeout} s")
