"""The REST server against a real HTTP client: TF Serving's status, metadata and predict APIs,
batching across concurrent clients, and a 4xx JSON error for every kind of bad request."""

import base64
import concurrent.futures
import os
import shutil
import tempfile
import threading

import numpy as np
import requests

from mmlm.serving.model import load_model
from mmlm.testing import TestCase
from mmlm.testing.media import bomb_png, image_bytes
from mmlm.testing.serving import EMBEDDING_DIM, build_toy_saved_model, png_bytes, running_server

MAX_REQUEST_BYTES = 100_000
MAX_INSTANCES = 8
TEXTS = ["a red circle", "two blue squares", "a green digit seven", "nothing"]


def _b64(data):
    return {"b64": base64.b64encode(data).decode("ascii")}


CAPTION_ROW = {"images": [[[1, 2, 3]]], "audio": [0.1], "image_present": True}
# (body: a JSON value or raw bytes, HTTP status, what the error must say)
BAD_REQUESTS = [
    (b'{"instances": ["a"', 400, "malformed JSON"),
    (b"\xff\xfe", 400, "malformed JSON"),
    ([1, 2], 400, "must be a JSON object, got a list"),
    (b'{"instances": [' + b"1" * 5000 + b"]}", 400, "malformed JSON: Exceeds the limit (4300"),
    (
        b'{"signature_name": "echo", "inputs": ["\\ud800"]}',
        400,
        "input 'data': a string holds a lone surrogate (\\ud800), which is not Unicode text",
    ),
    (b'{"instances": ' + b"[" * 20_000 + b"]" * 20_000 + b"}", 400, "nested too deeply"),
    # Deeper than a tensor's rank, yet shallow enough for the JSON parser (NumPy stops at 64).
    (
        b'{"instances": ' + b"[" * 70 + b'"a"' + b"]" * 70 + b"}",
        400,
        "input 'text': the values are nested 70 lists deep, but the input has 1 dimensions",
    ),
    (
        {"signature_name": "embed_audio", "inputs": [[[[[[[[0.5]]]]]]]]},
        400,
        "input 'audio': the values are nested 8 lists deep, but the input has 2 dimensions",
    ),
    ({"signature_name": "nope", "instances": ["a"]}, 400, "no signature 'nope'"),
    ({"signature_name": 3, "instances": ["a"]}, 400, "'signature_name' must be a string"),
    ({"instances": ["a"], "inputs": ["a"]}, 400, "exactly one of 'instances'"),
    ({"signature_name": "embed_text"}, 400, "exactly one of 'instances'"),
    ({"instances": "a"}, 400, "'instances' must be a list"),
    ({"instances": []}, 400, "'instances' is empty"),
    ({"instances": ["a", {"text": "b"}]}, 400, "mixes objects of named inputs with bare values"),
    (
        {"signature_name": "embed_audio", "instances": [{"b64": "AAAA"}]},
        400,
        "input 'audio' expects numbers (DT_FLOAT), got a {\"b64\": ...} object",
    ),
    (
        {"inputs": {"txt": ["a"]}},
        400,
        "unknown input 'txt' for signature 'serving_default'",
    ),
    (
        {"signature_name": "caption", "instances": [CAPTION_ROW]},
        400,
        "instance 0: missing input 'audio_present' of signature 'caption'",
    ),
    (
        {"signature_name": "caption", "instances": [[[[1, 2, 3]]]]},
        400,
        "signature 'caption' has 4 inputs",
    ),
    (
        {"signature_name": "caption", "instances": [dict(CAPTION_ROW, extra=1)]},
        400,
        "unknown input 'extra'",
    ),
    (
        {"signature_name": "embed_audio", "instances": [["a", "b"]]},
        400,
        "input 'audio' expects numbers (DT_FLOAT), got strings",
    ),
    (
        {"signature_name": "embed_audio", "instances": [[0.1, 0.2], [0.3]]},
        400,
        "input 'audio': the nested lists are ragged",
    ),
    (
        {"signature_name": "embed_audio", "inputs": [0.1, 0.2]},
        400,
        "input 'audio': expected shape [-1, -1] (-1: any size, the first is the batch), got [2]",
    ),
    (
        {"signature_name": "embed_image", "instances": [[[[1, 2, 3, 4]]]]},
        400,
        "input 'images': each instance must have shape [-1, -1, 3] (-1: any size), got [1, 1, 4]",
    ),
    (
        {"signature_name": "embed_image", "instances": [[[[300, 0, -1]]]]},
        400,
        "input 'images' expects DT_UINT8 values in [0, 255], got values in [-1, 300]",
    ),
    (
        {"signature_name": "embed_image", "instances": [[[[0.5, 0, 1]]]]},
        400,
        "input 'images' expects integers (DT_UINT8), got fractions",
    ),
    (
        {"signature_name": "embed_image", "instances": [[[[None, 0, 1]]]]},
        400,
        "input 'images' expects numbers (DT_UINT8), got null",
    ),
    ({"instances": [1, 2]}, 400, "input 'text' expects strings (DT_STRING)"),
    (
        {"signature_name": "embed_image_bytes", "instances": [{"b64": "!!"}]},
        400,
        "input 'image_bytes': invalid base64",
    ),
    (
        {"signature_name": "embed_image_bytes", "instances": [_b64(b"GIF89a garbage")]},
        400,
        "signature 'embed_image_bytes' failed on its input 'image_bytes'",
    ),
    # A decompression bomb: 18 KB of PNG declaring 12000 x 12000 pixels (430 MB decoded).
    (
        {"signature_name": "embed_image_bytes", "instances": [_b64(bomb_png())]},
        400,
        "image_too_large: 12000 x 12000 = 144000000 pixels, over the limit of 40000000",
    ),
    (
        {"signature_name": "embed_image_bytes", "inputs": {"image_bytes": [_b64(bomb_png())]}},
        400,
        "refused before decoding",
    ),
    (
        {"signature_name": "embed_image_bytes", "instances": [_b64(image_bytes("GIF"))]},
        400,
        "image_bytes: not a PNG, JPEG or BMP file",
    ),
    (
        {"signature_name": "caption", "instances": [dict(CAPTION_ROW, audio_present=1)]},
        400,
        "input 'audio_present' expects true/false (DT_BOOL), got numbers",
    ),
    (
        {
            "signature_name": "caption",
            "inputs": {
                "images": [[[[1, 2, 3]]]],
                "audio": [[0.1], [0.2]],
                "image_present": [True],
                "audio_present": [True],
            },
        },
        400,
        "different batch sizes (leading dimension): 'audio' 2, 'audio_present' 1",
    ),
]


class ServerTest(TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.directory = cls.class_directory()
        cls.model_path = build_toy_saved_model(os.path.join(cls.directory, "toy"))
        cls.server = cls.enterClassContext(
            running_server(
                cls.model_path, max_request_bytes=MAX_REQUEST_BYTES, max_instances=MAX_INSTANCES
            )
        )
        # Full batches of 4 close at once; the long timeout makes the merge certain.
        cls.batching_server = cls.enterClassContext(
            running_server(cls.model_path, max_batch_size=4, batch_timeout_ms=2000)
        )

    def url(self, suffix="", server=None):
        return f"{(server or self.server).url}/v1/models/toy{suffix}"

    def predict(self, body, server=None):
        return requests.post(self.url(":predict", server), json=body, timeout=30)

    def embed_text_directly(self, texts):
        """`embed_text` called in-process, without the server."""
        return self.server.model.signatures["embed_text"]({"text": np.asarray(texts, object)})

    def test_status(self):
        expected = {
            "model_version_status": [
                {
                    "version": "1",
                    "state": "AVAILABLE",
                    "status": {"error_code": "OK", "error_message": ""},
                }
            ]
        }
        self.assertEqual(expected, requests.get(self.url()).json())
        self.assertEqual(expected, requests.get(self.url("/versions/1")).json())
        self.assertNotFound(
            requests.get(self.url("/versions/2")), "version 2 of model 'toy' not found"
        )
        other = requests.get(f"{self.server.url}/v1/models/other")
        self.assertNotFound(other, "model 'other' not found: this server serves 'toy'")

    def test_metadata(self):
        metadata = requests.get(self.url("/metadata")).json()
        self.assertEqual(
            {"name": "toy", "signature_name": "", "version": "1"}, metadata["model_spec"]
        )
        defs = metadata["metadata"]["signature_def"]["signature_def"]
        self.assertIn("serving_default", defs)
        self.assertIn("caption", defs)
        image = defs["embed_image"]
        self.assertEqual("tensorflow/serving/predict", image["method_name"])
        images = image["inputs"]["images"]
        self.assertEqual("DT_UINT8", images["dtype"])
        self.assertEqual(
            ["-1", "-1", "-1", "3"], [d["size"] for d in images["tensor_shape"]["dim"]]
        )
        embedding = image["outputs"]["embedding"]
        self.assertEqual("DT_FLOAT", embedding["dtype"])
        sizes = [d["size"] for d in embedding["tensor_shape"]["dim"]]
        self.assertEqual(["-1", str(EMBEDDING_DIM)], sizes)
        self.assertEqual("DT_STRING", defs["embed_text"]["inputs"]["text"]["dtype"])
        self.assertEqual(metadata, requests.get(self.url("/versions/1/metadata")).json())

    def test_row_and_columnar_predict(self):
        expected = self.embed_text_directly(TEXTS)["embedding"]
        rows = self.predict({"signature_name": "embed_text", "instances": TEXTS})
        self.assertEqual(200, rows.status_code, rows.text)
        self.assertAllClose(expected, rows.json()["predictions"])
        named_rows = self.predict({"instances": [{"text": t} for t in TEXTS]})  # serving_default
        self.assertAllClose(expected, named_rows.json()["predictions"])
        columns = self.predict({"signature_name": "embed_text", "inputs": {"text": TEXTS}})
        self.assertAllClose(expected, columns.json()["outputs"])
        bare = self.predict({"inputs": TEXTS})
        self.assertAllClose(expected, bare.json()["outputs"])

    def test_images_and_audio(self):
        image = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3) * 10  # (H, W, 3)
        response = self.predict({"signature_name": "embed_image", "instances": [image.tolist()]})
        expected = image.reshape(-1, 3).mean(0) / 255.0
        self.assertAllClose(expected, response.json()["predictions"][0][:3], atol=1e-6)
        floats = self.predict(
            {"signature_name": "embed_image_float", "inputs": {"images": [(image / 255).tolist()]}}
        )
        self.assertAllClose(expected, floats.json()["outputs"][0][:3], atol=1e-6)
        audio = self.predict({"signature_name": "embed_audio", "instances": [[0.5, -0.5, 0.5]]})
        self.assertAllClose([1 / 6, np.std([0.5, -0.5, 0.5])], audio.json()["predictions"][0][:2])

    def test_b64_inputs_and_string_outputs(self):
        response = self.predict(
            {
                "signature_name": "embed_image_bytes",
                "instances": [_b64(png_bytes([255, 0, 51])), _b64(png_bytes([0, 102, 0]))],
            }
        )
        self.assertEqual(200, response.status_code, response.text)
        means = np.asarray(response.json()["predictions"])[:, :3]
        self.assertAllClose([[1.0, 0.0, 0.2], [0.0, 0.4, 0.0]], means, atol=1e-6)
        echo = self.predict({"signature_name": "echo", "inputs": ["héllo", _b64(b"\xff\x00")]})
        # Text that is UTF-8 comes back as a string, other bytes (and `*_bytes` outputs) as b64.
        self.assertEqual(
            {
                "text": ["héllo", _b64(b"\xff\x00")],
                "raw_bytes": [_b64("héllo".encode()), _b64(b"\xff\x00")],
            },
            echo.json()["outputs"],
        )

    def test_multi_input_signature(self):
        rows = [
            {"images": [[[1, 2, 3]]], "audio": [0.1, 0.2], "image_present": p, "audio_present": q}
            for p, q in ((True, False), (False, True), (True, True))
        ]
        response = self.predict({"signature_name": "caption", "instances": rows})
        self.assertEqual(200, response.status_code, response.text)
        self.assertEqual(
            [
                {"text": "image", "token_ids": [1, 0]},
                {"text": "audio", "token_ids": [0, 1]},
                {"text": "image audio", "token_ids": [1, 1]},
            ],
            response.json()["predictions"],
        )
        columns = {name: [row[name] for row in rows] for name in rows[0]}
        response = self.predict({"signature_name": "caption", "inputs": columns})
        self.assertEqual(
            {"text": ["image", "audio", "image audio"], "token_ids": [[1, 0], [0, 1], [1, 1]]},
            response.json()["outputs"],
        )

    def test_concurrent_requests_are_batched(self):
        bodies = [{"instances": [text]} for text in TEXTS]  # 4 = the max batch: closes at once
        stats = self.batching_server.batcher.stats
        before = stats.batch_sizes[4]
        responses = self._concurrently(bodies, self.batching_server)
        self.assertEqual(before + 1, stats.batch_sizes[4], stats)
        for body, response in zip(bodies, responses):
            self.assertEqual(200, response.status_code, response.text)
            alone = self.predict(body)  # one at a time: a batch of one
            self.assertAllClose(alone.json()["predictions"], response.json()["predictions"])

    def test_failed_batch_is_retried_per_request(self):
        images = [
            png_bytes([255, 0, 0]),
            b"not an image",
            png_bytes([0, 0, 255]),
            png_bytes([0] * 3),
        ]
        bodies = [{"signature_name": "embed_image_bytes", "instances": [_b64(x)]} for x in images]
        retried = self.batching_server.batcher.stats.retried_batches
        responses = self._concurrently(bodies, self.batching_server)
        self.assertEqual(retried + 1, self.batching_server.batcher.stats.retried_batches)
        self.assertEqual([200, 400, 200, 200], [r.status_code for r in responses])
        self.assertIn("not a PNG, JPEG or BMP file", responses[1].json()["error"])
        self.assertIn("input 'image_bytes'", responses[1].json()["error"])
        self.assertAllClose([0, 0, 1], responses[2].json()["predictions"][0][:3])

    def test_bad_requests_get_4xx_json_errors(self):
        for body, status, message in BAD_REQUESTS:
            with self.subTest(body=str(body)[:80]):
                if isinstance(body, bytes):
                    response = requests.post(self.url(":predict"), data=body, timeout=30)
                else:
                    response = self.predict(body)
                self.assertEqual(status, response.status_code, response.text)
                self.assertEqual("application/json", response.headers["Content-Type"].split(";")[0])
                self.assertIn(message, response.json()["error"])
                self.assertServerStillServes()

    def test_oversize_requests_get_413(self):
        body = b'{"instances": ["' + b"x" * MAX_REQUEST_BYTES + b'"]}'
        chunked = (body[i : i + 8192] for i in range(0, len(body), 8192))  # no Content-Length
        for data in (body, chunked):
            response = requests.post(self.url(":predict"), data=data, timeout=30)
            self.assertEqual(413, response.status_code, response.text)
            self.assertIn(f"limit of {MAX_REQUEST_BYTES} bytes", response.json()["error"])
            self.assertServerStillServes()

    def test_too_many_instances_get_413(self):
        texts = [f"text {i}" for i in range(MAX_INSTANCES + 1)]
        for body in ({"instances": texts}, {"inputs": {"text": texts}}, {"inputs": texts}):
            with self.subTest(body=list(body)):
                response = self.predict(body)
                self.assertEqual(413, response.status_code, response.text)
                self.assertIn(
                    f"{MAX_INSTANCES + 1} rows, over this server's limit of {MAX_INSTANCES} per "
                    "request (max_instances)",
                    response.json()["error"],
                )
                self.assertServerStillServes()
        self.assertEqual(200, self.predict({"instances": texts[:MAX_INSTANCES]}).status_code)

    def test_wrong_paths_and_methods(self):
        base = self.server.url
        cases = [
            ("post", f"{base}/v1/models/other:predict", 404, "model 'other' not found"),
            ("post", f"{base}/v1/models/toy/versions/7:predict", 404, "version 7"),
            ("get", f"{base}/v1/models/toy:predict", 405, "GET is not allowed"),
            ("post", f"{base}/v1/models/toy:classify", 400, "':classify' is not supported"),
            ("get", f"{base}/v2/anything", 404, "POST /v1/models/NAME:predict"),
        ]
        for method, url, status, message in cases:
            with self.subTest(url=url):
                response = getattr(requests, method)(url, json={"instances": ["a"]}, timeout=30)
                self.assertEqual(status, response.status_code, response.text)
                self.assertIn(message, response.json()["error"])
        self.assertServerStillServes()

    def _concurrently(self, bodies, server):
        """POSTs every body at the same moment from its own thread; the responses in order."""
        barrier = threading.Barrier(len(bodies))

        def post(body):
            barrier.wait()
            return self.predict(body, server)

        with concurrent.futures.ThreadPoolExecutor(len(bodies)) as pool:
            return list(pool.map(post, bodies))

    def assertNotFound(self, response, message):
        self.assertEqual(404, response.status_code, response.text)
        self.assertIn(message, response.json()["error"])

    def assertServerStillServes(self):
        response = self.predict({"instances": ["still here"]})
        self.assertEqual(200, response.status_code, response.text)


class LoadModelTest(TestCase):
    def test_version_directories(self):
        with tempfile.TemporaryDirectory() as directory:
            model = build_toy_saved_model(os.path.join(directory, "exported"))
            base = os.path.join(directory, "scenes")
            for version in ("1", "3"):
                shutil.copytree(model, os.path.join(base, version))
            for path in (base, os.path.join(base, "3")):
                served = load_model(path)
                self.assertEqual(("scenes", "3"), (served.name, served.version))
            served = load_model(model)
            self.assertEqual(("exported", "1"), (served.name, served.version))
            with self.assertRaisesRegex(FileNotFoundError, "numeric version subdirectories"):
                load_model(os.path.join(directory, "missing"))
