"""Selective full int8 (litert-quantizer): the chosen scopes stay float, audio survives."""

import numpy as np
import pytest

from mmlm.backend import keras
from mmlm.compression.selective_int8 import check_float_scopes, quantize_selectively
from mmlm.compression.tflite import convert_signatures
from mmlm.compression.tflite_process import TFLiteConversionError
from mmlm.experiments.compress import tower_error
from mmlm.serving.tflite_runner import TFLiteRunner
from mmlm.testing.models import tiny_batch
from mmlm.testing.on_device import OnDeviceTestCase

SIGNATURES = ("embed_text", "embed_image", "embed_audio")


def _feeds(seed):
    batch = tiny_batch(batch_size=1, seed=seed)
    audio_length = np.sum(batch["audio_padding_mask"], axis=1).astype("int32")
    return {
        "embed_text": {"token_ids": batch["token_ids"]},
        "embed_image": {"images": batch["images"]},
        "embed_audio": {"audio": batch["audio"], "audio_length": audio_length},
    }


def _output_types(content):
    """(op scope, output tensor type name) of every op of a `.tflite` with tensor names but
    the QUANTIZE / DEQUANTIZE ops at the borders of the float scopes."""
    from ai_edge_litert import schema_py_generated as schema
    from litert_quantizer.utils import tfl_flatbuffer_utils

    names = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    borders = {schema.BuiltinOperator.QUANTIZE, schema.BuiltinOperator.DEQUANTIZE}
    model = tfl_flatbuffer_utils.read_model(content)
    codes = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in model.operatorCodes]
    return [
        (tfl_flatbuffer_utils.get_op_scope(op, graph.tensors), names[graph.tensors[i].type])
        for graph in model.subgraphs
        for op in graph.operators
        if codes[op.opcodeIndex] not in borders
        for i in op.outputs
    ]


_FRONTEND = "audio_embedding_model/audio_encoder/frontend/"
_FRONTEND_OUTPUT = f"{_FRONTEND}truediv;{_FRONTEND}truediv/y1"


def _frontend_output(content, feed):
    """The log-mel frontend's output (`frontend/truediv`) in `embed_audio`, as float."""
    from litert_quantizer.utils import tfl_interpreter_utils as utils

    interpreter = utils.create_tfl_interpreter(bytes(content), num_threads=1)
    utils.invoke_interpreter_signature(interpreter, feed, "embed_audio")
    index = utils.get_signature_main_subgraph_index(interpreter, "embed_audio")
    tensors = utils.get_tensor_name_to_content_map(interpreter, index, dequantize=True)
    return tensors[_FRONTEND_OUTPUT]


def _representative():
    for seed in range(8):
        feeds = _feeds(seed)
        for name in SIGNATURES:
            yield name, feeds[name]


class SelectiveInt8Test(OnDeviceTestCase):
    @classmethod
    def setUpClass(cls):
        keras.utils.set_random_seed(0)  # the same tiny random model every run
        super().setUpClass()
        cls.signatures = cls.module.signatures(SIGNATURES)
        cls.float_content = convert_signatures(
            cls.module, cls.signatures, "none", strip_names=False
        )

    def embeddings(self, content, seeds=(11, 12, 13)):
        runner = TFLiteRunner(content)
        return {
            name: np.concatenate([runner(_feeds(seed)[name], name) for seed in seeds])
            for name in SIGNATURES
        }

    def test_float_scopes_stay_float_and_audio_keeps_its_direction(self):
        content = quantize_selectively(self.float_content, _representative)
        self.assert_builtin_only(content, "selective int8", present=("QUANTIZE", "DEQUANTIZE"))
        runner = TFLiteRunner(content)
        for name in SIGNATURES:  # float in, float out, like the converter's full int8
            details = list(runner.runner(name).get_input_details().values())
            details += list(runner.runner(name).get_output_details().values())
            self.assertTrue(all(d["dtype"] != np.int8 for d in details), name)
        types = _output_types(content)
        frontend = {t for scope, t in types if "/frontend/" in scope}
        norms = {t for scope, t in types if "layer_norm/" in scope}
        dense = {t for scope, t in types if "feedforward_intermediate_dense" in scope}
        # (The frontend also computes lengths and masks: int32, bool, the FFT's complex64.)
        self.assertIn("FLOAT32", frontend)
        self.assertNotIn("INT8", frontend)
        self.assertEqual((norms, dense), ({"FLOAT32"}, {"INT8"}))
        reference = self.embeddings(self.float_content)
        error = tower_error(reference, self.embeddings(content))
        for name in SIGNATURES:
            # A random 16-wide model calibrated on 8 examples: looser than the trained demo.
            self.assertGreater(error[name]["cosine_mean"], 0.9, name)
            self.assertGreater(error[name]["snr_db"], 7.0, name)
        # The float frontend computes the same log-mel features as the float file; with
        # everything int8 they differ.
        feed = _feeds(21)["embed_audio"]
        expected = _frontend_output(self.float_content, feed)
        self.assertAllClose(_frontend_output(content, feed), expected, atol=1e-5)
        everything = quantize_selectively(self.float_content, _representative, float_scopes=())
        self.assertGreater(np.max(np.abs(_frontend_output(everything, feed) - expected)), 1e-3)

    def test_a_scope_matching_nothing_is_an_error(self):
        with self.assertRaisesRegex(ValueError, "'no_such_layer/' matches no operator"):
            check_float_scopes(self.float_content, ("/frontend/", "no_such_layer/"))
        with self.assertRaisesRegex(ValueError, "no calibration examples for signatures"):
            quantize_selectively(
                self.float_content, lambda: (p for p in _representative() if "text" in p[0])
            )

    @pytest.mark.slow
    def test_the_conversion_process_passes_the_scopes(self):
        content = convert_signatures(
            self.module, self.signatures, "selective_int8", _representative
        )
        self.assert_builtin_only(content, "selective int8", present=("QUANTIZE",))
        with self.assertRaisesRegex(TFLiteConversionError, "no_such_layer"):
            convert_signatures(
                self.module,
                self.signatures,
                "selective_int8",
                _representative,
                float_scopes=("no_such_layer/",),
            )
