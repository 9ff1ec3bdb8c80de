"""Hostile clients against the REST server: path tricks, image bombs through every image
signature, text over the size limit (REST and gRPC), slow clients and many concurrent clients
mixing good and bad requests. Every bad request gets a 4xx with a message, and the server keeps
answering the good ones.

(Malformed JSON, wrong types, deep nesting, huge bodies and too many instances are in
test_server.py's BAD_REQUESTS; the gRPC cases in test_grpc_server.py.)"""

import base64
import concurrent.futures
import http.client
import json
import os
import socket
import threading
import time

import grpc
import numpy as np
import pytest
import requests

from mmlm.config.data import DEFAULT_MAX_TEXT_BYTES
from mmlm.testing import TestCase
from mmlm.testing.media import bomb_png, header_bomb
from mmlm.testing.serving import (
    build_toy_saved_model,
    grpc_stubs,
    png_bytes,
    predict_proto,
    running_server,
)

MAX_REQUEST_BYTES = 100_000
MAX_INSTANCES = 8
READ_TIMEOUT_S = 1.0


def _b64(data):
    return {"b64": base64.b64encode(data).decode("ascii")}


def _image_rows(side):
    return [np.zeros((side, side, 3), np.uint8).tolist()]


# (path, method, status, what the error must say): none may reach anything but the model API.
PATH_TRICKS = [
    ("/v1/models/../models/toy", "GET", 404, "no endpoint GET"),
    ("/v1/models/toy/../../../etc/passwd", "GET", 404, "no endpoint"),
    ("/v1/models/%2e%2e/toy", "GET", 404, "no endpoint"),
    ("/v1/models/..", "GET", 404, "model '..' not found"),
    ("/v1/models/toy%2F..%2Fother:predict", "POST", 404, "not found"),
    ("/v1/models/toy%00:predict", "POST", 404, "not found"),
    ("/v1/models/toy/versions/-1", "GET", 404, "no endpoint"),
    ("/v1/models/toy/versions/1e3", "GET", 404, "no endpoint"),
    ("/v1/models/toy/versions/99999999999999999999999", "GET", 404, "not found"),
    ("/v1/models/toy/labels/..%2F..", "GET", 404, "label"),
    ("//v1/models/toy", "GET", 404, "no endpoint"),
    ("/v1/models/toy/", "GET", 404, "no endpoint"),
    ("/v1/models/toy:predict/../../x", "POST", 404, "no endpoint"),
    ("/v1/models/toy:PREDICT", "POST", 400, "':PREDICT' is not supported"),
    ("/v1/models/toy:predict?signature_name=../../x", "POST", 200, ""),  # queries are ignored
    ("/v1/models/" + "a" * 5000, "GET", 404, "not found"),
    ("/" + "a" * 20000, "GET", 400, ""),  # over aiohttp's 8190-byte request line: plain 400
]

_PREDICT = b"POST /v1/models/toy:predict HTTP/1.1\r\nHost: x\r\n"
# (raw bytes, what the plain-text 400 of aiohttp's HTTP parser says): broken HTTP itself.
RAW_REQUESTS = [
    (_PREDICT + b"Content-Length: -1\r\n\r\n", b"Invalid character in Content-Length"),
    (_PREDICT + b"Content-Length: abc\r\n\r\n", b"Invalid character in Content-Length"),
    (
        _PREDICT + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"Transfer-Encoding can't be present with Content-Length",
    ),
    (
        _PREDICT + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
        b"Invalid character in chunk size",
    ),
    (_PREDICT + b"X-Big: " + b"a" * 100_000 + b"\r\n\r\n", b"Got more than 8190 bytes"),
    (
        _PREDICT + b"".join(b"X-%d: 1\r\n" % i for i in range(300)) + b"\r\n",
        b"Too many headers received",
    ),
    (b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + b"\x00" * 50, b"HTTPS traffic"),
    (b"GARBAGE\r\n\r\n", b"Invalid method encountered"),
    (b"GET /v1/models/toy HTTP/9.9\r\nHost: x\r\n\r\n", b"Invalid HTTP version"),
]

# (signature, request body, status, message): an image bomb through each image signature.
IMAGE_BOMBS = [
    ("embed_image", {"instances": _image_rows(200)}, 413, "limit of 100000 bytes"),
    ("embed_image_float", {"inputs": {"images": _image_rows(200)}}, 413, "max_request_bytes"),
    (
        "caption",
        {
            "instances": [
                {
                    "images": _image_rows(200)[0],
                    "audio": [0.0],
                    "image_present": True,
                    "audio_present": False,
                }
            ]
        },
        413,
        "limit of 100000 bytes",
    ),
    ("embed_image_bytes", {"instances": [_b64(bomb_png())]}, 400, "image_too_large: 12000 x"),
    (
        "embed_image_bytes",
        {"instances": [_b64(header_bomb("JPEG"))]},
        400,
        "image_too_large: 12000 x 12000",
    ),
    (
        "embed_image_bytes",
        {"inputs": [_b64(header_bomb("BMP", 40000, 40000))]},
        400,
        "image_too_large: 40000 x 40000",
    ),
]


class HostileRequestTest(TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.directory = cls.class_directory()
        model = build_toy_saved_model(os.path.join(cls.directory, "toy"))
        cls.server = cls.enterClassContext(
            running_server(
                model,
                max_request_bytes=MAX_REQUEST_BYTES,
                max_instances=MAX_INSTANCES,
                read_timeout_s=READ_TIMEOUT_S,
                max_batch_size=8,
            )
        )
        cls.url = f"{cls.server.url}/v1/models/toy"
        # The concurrent clients get their own server with the default read timeout: with
        # 1 s, a client thread starved for a second could meet a keep-alive closing under it.
        soak = cls.enterClassContext(
            running_server(model, max_request_bytes=MAX_REQUEST_BYTES, max_instances=MAX_INSTANCES)
        )
        cls.soak_url = f"{soak.url}/v1/models/toy"

    def test_path_tricks(self):
        body = json.dumps({"instances": ["a"]})
        for path, method, status, message in PATH_TRICKS:
            with self.subTest(path=path[:60]):
                # http.client sends the path as written: no client-side normalization.
                connection = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=10)
                try:
                    connection.request(method, path, body=body if method == "POST" else None)
                    response = connection.getresponse()
                    text = response.read().decode("utf-8", "replace")
                finally:
                    connection.close()
                self.assertEqual(status, response.status, text[:300])
                if message:
                    self.assertIn(message, json.loads(text)["error"])
                if status >= 400:
                    self.assertTrue(text.strip(), "a 4xx without a message")
                self.assertStillServes()

    def test_broken_http(self):
        for raw, message in RAW_REQUESTS:
            with self.subTest(raw=raw[:50]):
                with self._connect() as sock:
                    sock.sendall(raw)
                    reply = _read_all(sock)
                self.assertTrue(reply.startswith(b"HTTP/1.0 400 Bad Request"), reply[:200])
                self.assertIn(message, reply)
                self.assertStillServes()

    def test_image_bombs_through_every_image_signature(self):
        for signature, body, status, message in IMAGE_BOMBS:
            with self.subTest(signature=signature, message=message):
                body = dict(body, signature_name=signature)
                response = requests.post(f"{self.url}:predict", json=body, timeout=30)
                self.assertEqual(status, response.status_code, response.text[:300])
                self.assertIn(message, response.json()["error"])
                self.assertStillServes()

    def test_slow_body_gets_408(self):
        with self._connect() as sock:
            sock.sendall(
                b"POST /v1/models/toy:predict HTTP/1.1\r\nHost: x\r\n"
                b'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"inst'
            )
            started = time.monotonic()
            reply = _read_all(sock)
        self.assertLess(time.monotonic() - started, READ_TIMEOUT_S + 5)
        self.assertTrue(reply.startswith(b"HTTP/1.1 408"), reply[:200])
        self.assertIn(b"did not arrive within 1 s (read_timeout_s)", reply)
        self.assertStillServes()

    def test_slow_and_idle_connections_are_closed(self):
        sockets = [self._connect() for _ in range(20)]  # slowloris: many half-sent heads
        try:
            for i, sock in enumerate(sockets):
                if i % 2:
                    sock.sendall(b"GET /v1/models/toy HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            self.assertStillServes()  # the held connections do not block others
            started = time.monotonic()
            for sock in sockets:
                self.assertEqual(b"", _read_all(sock))  # closed by the server, no answer
            self.assertLess(time.monotonic() - started, READ_TIMEOUT_S + 5)
        finally:
            for sock in sockets:
                sock.close()
        self.assertStillServes()

    def test_concurrent_clients_short(self):
        self._check_concurrent_clients(clients=16, seconds=3)

    @pytest.mark.slow
    def test_concurrent_clients_30_s(self):
        self._check_concurrent_clients(clients=16, seconds=30)

    def _check_concurrent_clients(self, clients, seconds):
        counts, errors = _run_clients(self.soak_url, clients, seconds)
        self.assertEqual([], errors[:10], f"{len(errors)} errors")
        self.assertEqual(set(_MIX), set(counts))  # every kind of request was sent
        self.assertGreater(sum(counts.values()), clients * 2, counts)
        self.assertStillServes()

    def _connect(self):
        sock = socket.create_connection(("127.0.0.1", self.server.port), timeout=30)
        return sock

    def assertStillServes(self):
        response = requests.post(f"{self.url}:predict", json={"instances": ["ok"]}, timeout=30)
        self.assertEqual(200, response.status_code, response.text)


# (request body, bytes of its row 1): text one byte (or one character) over the default limit
# of data.text.max_bytes, through each way a text row reaches a signature.
_OVER = "a" * (DEFAULT_MAX_TEXT_BYTES + 1)
LONG_TEXTS = [
    ({"signature_name": "embed_text", "instances": ["ok", _OVER]}, DEFAULT_MAX_TEXT_BYTES + 1),
    ({"instances": ["ok", _OVER]}, DEFAULT_MAX_TEXT_BYTES + 1),  # serving_default
    ({"inputs": {"text": ["ok", _OVER]}}, DEFAULT_MAX_TEXT_BYTES + 1),  # columnar
    ({"instances": [{"text": "ok"}, {"text": _b64(_OVER.encode())}]}, DEFAULT_MAX_TEXT_BYTES + 1),
    ({"instances": ["ok", "€" * (DEFAULT_MAX_TEXT_BYTES // 3 + 1)]}, DEFAULT_MAX_TEXT_BYTES + 2),
]


class TextSizeLimitTest(TestCase):
    """Text rows over `data.text.max_bytes` (1 MB by default): refused by the model's own
    check, which the toy shares with the exporter, with a 400 / INVALID_ARGUMENT."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        model = build_toy_saved_model(os.path.join(cls.class_directory(), "toy"))
        cls.server = cls.enterClassContext(running_server(model, grpc_port=0, batch_timeout_ms=50))
        cls.url = f"{cls.server.url}/v1/models/toy:predict"

    def test_rest(self):
        at_limit = requests.post(self.url, json={"instances": ["a" * DEFAULT_MAX_TEXT_BYTES]})
        self.assertEqual(200, at_limit.status_code, at_limit.text[:300])
        for body, size in LONG_TEXTS:
            with self.subTest(body=json.dumps(body)[:60]):
                response = requests.post(self.url, json=body, timeout=60)
                self.assertEqual(400, response.status_code, response.text[:300])
                self.assertIn(
                    f"text_too_long: row 1 holds {size} bytes, over the limit of "
                    f"{DEFAULT_MAX_TEXT_BYTES} bytes (data.text.max_bytes of the export)",
                    response.json()["error"],
                )
                self.assertEqual(
                    200, requests.post(self.url, json={"instances": ["ok"]}).status_code
                )

    def test_a_long_text_fails_only_its_own_request_in_a_merged_batch(self):
        bodies = [{"instances": [_OVER]}, {"instances": ["ok"]}, {"instances": ["fine"]}]
        stats = self.server.batcher.stats
        retried = stats.retried_batches
        for _ in range(10):  # until the three requests met in one batch (the 50 ms timeout)
            with concurrent.futures.ThreadPoolExecutor(len(bodies)) as pool:
                responses = list(
                    pool.map(lambda b: requests.post(self.url, json=b, timeout=60), bodies)
                )
            self.assertEqual([400, 200, 200], [r.status_code for r in responses])
            self.assertIn("text_too_long: row 0 holds", responses[0].json()["error"])
            if stats.retried_batches > retried:
                break
        self.assertGreater(stats.retried_batches, retried, "the requests were never merged")

    def test_grpc(self):
        with grpc_stubs(self.server.grpc_address) as (predictions, _):
            for signature in ("embed_text", ""):  # "": serving_default
                text = np.array([b"ok", _OVER.encode()], object)
                with self.assertRaises(grpc.RpcError) as raised:
                    predictions.Predict(predict_proto("toy", signature, {"text": text}), timeout=60)
                self.assertEqual(grpc.StatusCode.INVALID_ARGUMENT, raised.exception.code())
                self.assertIn(
                    f"text_too_long: row 1 holds {DEFAULT_MAX_TEXT_BYTES + 1} bytes",
                    raised.exception.details(),
                )
                good = predict_proto("toy", signature, {"text": np.array([b"ok"], object)})
                self.assertIn("embedding", predictions.Predict(good, timeout=30).outputs)


def _read_all(sock):
    chunks = []
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


# Each client cycles through these: (name, request body, expected status, check of the reply).
_RED, _BLUE = png_bytes([255, 0, 0]), png_bytes([0, 0, 255])
_MIX = {
    "text": ({"instances": ["a red circle"]}, 200, None),
    "image_bytes": (
        {"signature_name": "embed_image_bytes", "instances": [_b64(_RED), _b64(_BLUE)]},
        200,
        lambda body: np.allclose(np.asarray(body["predictions"])[:, :3], [[1, 0, 0], [0, 0, 1]]),
    ),
    "caption": (
        {
            "signature_name": "caption",
            "instances": [
                {
                    "images": [[[1, 2, 3]]],
                    "audio": [0.1],
                    "image_present": True,
                    "audio_present": False,
                }
            ],
        },
        200,
        lambda body: body["predictions"] == [{"text": "image", "token_ids": [1, 0]}],
    ),
    "malformed": (b'{"instances": [', 400, lambda body: "malformed JSON" in body["error"]),
    "bomb": (
        {"signature_name": "embed_image_bytes", "instances": [_b64(bomb_png())]},
        400,
        lambda body: "image_too_large" in body["error"],
    ),
    "bad_image": (
        {"signature_name": "embed_image_bytes", "instances": [_b64(b"not an image")]},
        400,
        lambda body: "not a PNG, JPEG or BMP" in body["error"],
    ),
    "too_many": ({"instances": ["x"] * (MAX_INSTANCES + 1)}, 413, None),
    "unknown_signature": ({"signature_name": "x", "instances": ["a"]}, 400, None),
}


def _run_clients(url, clients, seconds):
    """`clients` threads sending `_MIX` in turn for `seconds`; ({kind: count}, [error])."""
    counts, errors, lock = {}, [], threading.Lock()
    deadline = time.monotonic() + seconds
    expected_text = requests.post(f"{url}:predict", json=_MIX["text"][0], timeout=30).json()

    def client(offset):
        kinds = list(_MIX)
        with requests.Session() as session:
            i = offset
            while time.monotonic() < deadline:
                kind = kinds[i % len(kinds)]
                i += 1
                body, status, check = _MIX[kind]
                data = body if isinstance(body, bytes) else json.dumps(body)
                try:
                    response = session.post(f"{url}:predict", data=data, timeout=30)
                    reply = response.json()
                    ok = response.status_code == status and (
                        check(reply) if check else status != 200 or reply == expected_text
                    )
                    if status >= 400:
                        ok = ok and bool(reply.get("error"))
                except Exception as error:  # noqa: BLE001  (counted as an error)
                    ok, response = False, error
                with lock:
                    counts[kind] = counts.get(kind, 0) + 1
                    if not ok:
                        errors.append((kind, getattr(response, "text", repr(response))[:200]))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return counts, errors
