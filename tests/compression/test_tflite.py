"""The embedding models convert to TFLite with built-in ops only and match Keras."""

from mmlm.compression.tflite import convert, input_specs
from mmlm.serving.tflite_runner import TFLiteRunner
from mmlm.testing import TestCase
from mmlm.testing.models import SEQUENCE_LENGTH, tiny_backbone, tiny_batch


class TFLiteConversionTest(TestCase):
    def test_embedding_models_match_keras(self):
        backbone = tiny_backbone()
        batch = tiny_batch(batch_size=1)
        overrides = {"token_ids": (SEQUENCE_LENGTH,), "padding_mask": (SEQUENCE_LENGTH,)}
        for modality in ("text", "image", "audio"):
            with self.subTest(modality):
                model = backbone.embedding_model(modality)
                rows = [{name: batch[name] for name in model.input}]
                self.run_tflite_test(model, rows, overrides=overrides)
                # Dynamic-range int8 keeps the direction of the embedding.
                self.run_tflite_test(model, rows, "dynamic", overrides=overrides)

    def test_stripped_names_keep_signatures_and_outputs(self):
        model = tiny_backbone(modalities=("image",)).embedding_model("image")
        inputs = {"images": tiny_batch(batch_size=1)["images"]}
        named = convert(model, input_specs(model), "dynamic", strip_names=False)
        stripped = convert(model, input_specs(model), "dynamic")
        self.assertLess(len(stripped), len(named))

        def tensor_names(content):
            return {t["name"] for t in TFLiteRunner(content).interpreter.get_tensor_details()}

        self.assertEqual(tensor_names(stripped), {""})
        self.assertIn("/", "".join(tensor_names(named)))  # e.g. "model/vit_encoder/..."
        self.assertEqual(TFLiteRunner(stripped).signatures, TFLiteRunner(named).signatures)
        self.assertAllEqual(TFLiteRunner(stripped)(inputs), TFLiteRunner(named)(inputs))

    def test_full_integer_keeps_only_the_log_mel_spectrogram_float(self):
        import numpy as np

        model = tiny_backbone(modalities=("audio",)).embedding_model("audio")
        batch = tiny_batch(batch_size=8, seed=3)
        rows = [{name: batch[name][i : i + 1] for name in model.input} for i in range(8)]
        runner = self.run_tflite_test(model, rows, "int8")
        dtypes = {t["index"]: t["dtype"] for t in runner.interpreter.get_tensor_details()}
        ops = runner.interpreter._get_ops_details()

        def output_dtypes(name):
            return {dtypes[op["outputs"][0]] for op in ops if op["op_name"] == name}

        # The power spectrum and its logarithm in float32 ...
        self.assertEqual({np.float32}, output_dtypes("LOG"))
        self.assertEqual({np.float32}, output_dtypes("UNSORTED_SEGMENT_SUM"))
        # ... and every matmul of the encoder on int8 activations.
        matmuls = [op for op in ops if op["op_name"] in ("FULLY_CONNECTED", "CONV_2D")]
        self.assertNotEmpty(matmuls)
        for op in matmuls:
            self.assertEqual(np.int8, dtypes[op["inputs"][0]], op)
            self.assertEqual(np.int8, dtypes[op["outputs"][0]], op)
