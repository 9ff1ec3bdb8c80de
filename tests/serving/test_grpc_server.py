"""TF Serving's gRPC API (PredictionService, ModelService) through the `tensorflow-serving-api`
client stubs, as an existing TF Serving client calls it."""

import os

import grpc
import numpy as np
import requests

import mmlm  # noqa: F401  (before TensorFlow: it selects tf_keras)

# isort: split
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_pb2,
)

from mmlm.backend import tf
from mmlm.serving.version_policy import VersionPolicy
from mmlm.testing import TestCase
from mmlm.testing.media import bomb_png
from mmlm.testing.serving import (
    add_version,
    build_toy_saved_model,
    grpc_stubs,
    predict_proto,
    running_server,
)

MAX_REQUEST_BYTES = 100_000
MAX_INSTANCES = 8
TEXTS = np.array([b"a red circle", b"two blue squares", b"nothing"], object)


_CAPTION_ROW = {
    "audio": np.zeros((1, 3), np.float32),
    "image_present": np.array([True]),
    "audio_present": np.array([False]),
}


def _declared(dtype, shape, **values):
    """A TensorProto of `shape` holding only `values` (TensorFlow fills the rest)."""
    dims = [tensor_shape_pb2.TensorShapeProto.Dim(size=size) for size in shape]
    return tensor_pb2.TensorProto(
        dtype=dtype, tensor_shape=tensor_shape_pb2.TensorShapeProto(dim=dims), **values
    )


def _spec(name="toy", version=None, label=None):
    spec = model_pb2.ModelSpec(name=name)
    if version is not None:
        spec.version.value = version
    if label is not None:
        spec.version_label = label
    return spec


class GrpcServerTest(TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.directory = cls.class_directory()
        base = os.path.join(cls.directory, "toy")
        for version in (1, 2):
            model = build_toy_saved_model(os.path.join(cls.directory, f"m{version}"), version)
            add_version(model, base, version)
        cls.server = cls.enterClassContext(
            running_server(
                base,
                grpc_port=0,
                version_policy=VersionPolicy.parse("all"),
                version_labels={"stable": 1},
                max_request_bytes=MAX_REQUEST_BYTES,
                max_instances=MAX_INSTANCES,
                poll_seconds=0,
            )
        )
        cls.predictions, cls.models = cls.enterClassContext(grpc_stubs(cls.server.grpc_address))

    def predict(self, signature, inputs, **spec):
        request = predict_proto("toy", signature, inputs, **spec)
        return self.predictions.Predict(request, timeout=30)

    def test_predict_matches_rest_and_names_the_version(self):
        response = self.predict("embed_text", {"text": TEXTS})
        self.assertEqual(("toy", 2, "embed_text"), _spec_tuple(response.model_spec))
        rest = requests.post(
            f"{self.server.url}/v1/models/toy:predict",
            json={"instances": [t.decode() for t in TEXTS]},
            timeout=30,
        ).json()["predictions"]
        self.assertAllClose(rest, tf.make_ndarray(response.outputs["embedding"]))
        default = self.predict("", {"text": TEXTS})  # serving_default, as in TF Serving
        self.assertEqual("serving_default", default.model_spec.signature_name)
        one = self.predict("embed_text", {"text": TEXTS}, version=1)
        self.assertAllClose(
            tf.make_ndarray(response.outputs["embedding"]) / 2,
            tf.make_ndarray(one.outputs["embedding"]),
        )
        labelled = self.predict("embed_text", {"text": TEXTS}, label="stable")
        self.assertEqual(1, labelled.model_spec.version.value)

    def test_multi_input_string_outputs_and_output_filter(self):
        inputs = {
            "images": np.zeros((2, 1, 1, 3), np.uint8),
            "audio": np.zeros((2, 3), np.float32),
            "image_present": np.array([True, False]),
            "audio_present": np.array([False, True]),
        }
        response = self.predict("caption", inputs)
        self.assertEqual([b"image", b"audio"], list(tf.make_ndarray(response.outputs["text"])))
        self.assertAllEqual([[1, 0], [0, 1]], tf.make_ndarray(response.outputs["token_ids"]))
        request = predict_proto("toy", "caption", inputs)
        request.output_filter.append("text")
        self.assertEqual(["text"], list(self.predictions.Predict(request, timeout=30).outputs))

    def test_get_model_metadata(self):
        request = get_model_metadata_pb2.GetModelMetadataRequest(
            model_spec=_spec(version=1), metadata_field=["signature_def"]
        )
        response = self.predictions.GetModelMetadata(request, timeout=30)
        self.assertEqual(("toy", 1), _spec_tuple(response.model_spec)[:2])
        defs = get_model_metadata_pb2.SignatureDefMap()
        self.assertTrue(response.metadata["signature_def"].Unpack(defs))
        expected = self.server.manager.get(1).signature_defs
        self.assertEqual(sorted(expected), sorted(defs.signature_def))
        self.assertEqual(expected["embed_image"], defs.signature_def["embed_image"])
        images = defs.signature_def["embed_image"].inputs["images"]
        self.assertEqual(types_pb2.DT_UINT8, images.dtype)
        self.assertEqual([-1, -1, -1, 3], [d.size for d in images.tensor_shape.dim])

    def test_get_model_status(self):
        states = get_model_status_pb2.ModelVersionStatus.State
        response = self.models.GetModelStatus(
            get_model_status_pb2.GetModelStatusRequest(model_spec=_spec()), timeout=30
        )
        self.assertEqual(
            [(1, states.Value("AVAILABLE"), 0), (2, states.Value("AVAILABLE"), 0)],
            [(s.version, s.state, s.status.error_code) for s in response.model_version_status],
        )
        for spec, version in ((_spec(version=2), 2), (_spec(label="stable"), 1)):
            response = self.models.GetModelStatus(
                get_model_status_pb2.GetModelStatusRequest(model_spec=spec), timeout=30
            )
            self.assertEqual([version], [s.version for s in response.model_version_status])

    def test_bad_requests_get_status_codes_and_messages(self):
        codes = grpc.StatusCode
        text = {"text": TEXTS}
        too_many = {"text": np.array([b"x"] * (MAX_INSTANCES + 1), object)}
        # 1 x 20000 x 20000 x 3 uint8 = 1.2 GB declared by a message of a few bytes.
        image_bomb = {"images": _declared(types_pb2.DT_UINT8, [1, 20000, 20000, 3], int_val=[7])}
        float_bomb = {"images": _declared(types_pb2.DT_FLOAT, [1, 9000, 9000, 3])}
        cases = [
            (_spec_request("other", "embed_text", text), codes.NOT_FOUND, "model 'other' not"),
            (predict_proto("toy", "embed_text", text, version=7), codes.NOT_FOUND, "version 7"),
            (predict_proto("toy", "x", text, label="nope"), codes.NOT_FOUND, "label 'nope'"),
            (predict_proto("toy", "nope", text), codes.INVALID_ARGUMENT, "no signature 'nope'"),
            (
                predict_proto("toy", "embed_text", {"txt": TEXTS}),
                codes.INVALID_ARGUMENT,
                "unknown input 'txt'",
            ),
            (
                predict_proto("toy", "embed_audio", {"audio": TEXTS}),
                codes.INVALID_ARGUMENT,
                "input 'audio' expects DT_FLOAT, got DT_STRING",
            ),
            (
                predict_proto("toy", "embed_audio", {"audio": np.zeros(3, np.float32)}),
                codes.INVALID_ARGUMENT,
                "expected shape [-1, -1]",
            ),
            (
                predict_proto("toy", "embed_text", too_many),
                codes.RESOURCE_EXHAUSTED,
                "9 rows, over this server's limit of 8",
            ),
            (
                predict_proto("toy", "embed_image", image_bomb),
                codes.RESOURCE_EXHAUSTED,
                "declares shape [1, 20000, 20000, 3]",
            ),
            (
                predict_proto("toy", "embed_image_float", float_bomb),
                codes.RESOURCE_EXHAUSTED,
                "limit of 100000 bytes per input",
            ),
            (
                predict_proto("toy", "caption", {**_CAPTION_ROW, **image_bomb}),
                codes.RESOURCE_EXHAUSTED,
                "input 'images' declares shape [1, 20000, 20000, 3]",
            ),
            (
                predict_proto(
                    "toy", "embed_image_bytes", {"image_bytes": np.array([bomb_png()], object)}
                ),
                codes.INVALID_ARGUMENT,
                "image_too_large: 12000 x 12000",
            ),
            (
                predict_proto(
                    "toy",
                    "embed_audio",
                    {"audio": _declared(types_pb2.DT_FLOAT, [1, 4], tensor_content=b"123")},
                ),
                codes.INVALID_ARGUMENT,
                "tensor_content holds 3 bytes, the shape needs 16",
            ),
            (
                predict_proto(
                    "toy", "embed_audio", {"audio": _declared(types_pb2.DT_FLOAT, [1, -1])}
                ),
                codes.INVALID_ARGUMENT,
                "shape must be fully known",
            ),
            (
                predict_proto(
                    "toy",
                    "embed_image",
                    {"images": _declared(types_pb2.DT_UINT8, [1, 1, 1, 3], int_val=[1, 2, 300])},
                ),
                codes.INVALID_ARGUMENT,
                "input 'images': malformed TensorProto",
            ),
            (
                predict_proto("toy", "embed_text", {"text": np.array([b"x" * 200_000], object)}),
                codes.RESOURCE_EXHAUSTED,
                "",  # gRPC's own message-size limit (max_request_bytes)
            ),
        ]
        for request, code, message in cases:
            with self.subTest(message=message or "message size"):
                with self.assertRaises(grpc.RpcError) as raised:
                    self.predictions.Predict(request, timeout=30)
                self.assertEqual(code, raised.exception.code(), raised.exception.details())
                self.assertIn(message, raised.exception.details())
                self.assertStillServes()

    def test_other_methods(self):
        with self.assertRaises(grpc.RpcError) as raised:
            self.predictions.Classify(classification_pb2.ClassificationRequest(), timeout=30)
        self.assertEqual(grpc.StatusCode.UNIMPLEMENTED, raised.exception.code())
        self.assertIn(
            "serves Predict, GetModelMetadata and GetModelStatus", raised.exception.details()
        )
        for fields, message in (([], "must name a metadata_field"), (["x"], "x not supported")):
            request = get_model_metadata_pb2.GetModelMetadataRequest(
                model_spec=_spec(), metadata_field=fields
            )
            with self.assertRaises(grpc.RpcError) as raised:
                self.predictions.GetModelMetadata(request, timeout=30)
            self.assertEqual(grpc.StatusCode.INVALID_ARGUMENT, raised.exception.code())
            self.assertIn(message, raised.exception.details())
        request = get_model_status_pb2.GetModelStatusRequest(model_spec=_spec(version=9))
        with self.assertRaises(grpc.RpcError) as raised:
            self.models.GetModelStatus(request, timeout=30)
        self.assertEqual(grpc.StatusCode.NOT_FOUND, raised.exception.code())

    def assertStillServes(self):
        response = self.predict("embed_text", {"text": TEXTS[:1]})
        self.assertEqual((1, 8), tf.make_ndarray(response.outputs["embedding"]).shape)


def _spec_tuple(spec):
    return spec.name, spec.version.value, spec.signature_name


def _spec_request(model, signature, inputs):
    return predict_proto(model, signature, inputs)
