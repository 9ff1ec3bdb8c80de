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
