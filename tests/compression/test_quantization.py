"""Quantization-aware training: fake-quant where claimed, float-like before training, int8 TFLite."""

import collections

import numpy as np

from mmlm.backend import keras
from mmlm.compression.quantization import (
    QuantizeWrapper,
    calibrate_ranges,
    quantize_backbone,
    quantize_wrappers,
)
from mmlm.tasks.pretraining_task import captioning_inputs
from mmlm.testing import TestCase
from mmlm.testing.models import SEQUENCE_LENGTH, tiny_backbone, tiny_batch

OVERRIDES = {"token_ids": (SEQUENCE_LENGTH,), "padding_mask": (SEQUENCE_LENGTH,)}


def _calibrated(backbone):
    qat = quantize_backbone(backbone)
    batches = [captioning_inputs(tiny_batch(4, seed=s), backbone.modalities) for s in range(3)]
    calibrate_ranges(qat, batches)
    return qat


def _cosines(a, b):
    return np.sum(np.asarray(a) * np.asarray(b), axis=-1)  # both unit vectors


class QuantizationTest(TestCase):
    def test_wrappers_where_claimed_and_float_like_before_training(self):
        backbone = tiny_backbone()
        qat = _calibrated(backbone)
        self.assertEmpty(quantize_wrappers(backbone))  # the float backbone is left alone
        counts = collections.Counter(type(w.layer).__name__ for w in quantize_wrappers(qat))
        # Encoder block: q/k/v/o + 2 feed-forward + 2 LayerNorms; fusion/decoder blocks add a
        # cross-attention (4 more EinsumDense, 1 LayerNorm); heads: Dense + LayerNorm.
        encoders, cross_blocks = 3, 3 + 1
        self.assertEqual(
            {
                "EinsumDense": 4 * encoders + 8 * cross_blocks,
                "Dense": 2 * (encoders + cross_blocks) + 3,
                "LayerNormalization": 2 * encoders + 3 * cross_blocks + 3,
                "Conv2D": 2,
            },
            dict(counts),
        )
        block = qat.image_encoder.get_layer("block_0")
        self.assertIsInstance(block._self_attention_layer._query_dense, QuantizeWrapper)
        self.assertIsInstance(
            qat.image_encoder.get_layer("patch_embedding").projection, QuantizeWrapper
        )
        # Only the fake-quant ranges are new variables.
        self.assertLen(qat.trainable_weights, len(backbone.trainable_weights))

        batch = tiny_batch(3, seed=9)
        for modality in backbone.modalities:
            model, quantized = backbone.embedding_model(modality), qat.embedding_model(modality)
            inputs = {name: batch[name] for name in model.input}
            cosines = _cosines(model(inputs), quantized(inputs))
            # 8-bit noise on 16-wide random towers: close on average, no outlier.
            self.assertGreater(cosines.mean(), 0.99, modality)
            self.assertGreater(cosines.min(), 0.95, modality)
        self.assertEqual("int32", qat.embedding_model("text").input["token_ids"].dtype)

    def test_fit_step_trains_through_fake_quant(self):
        qat = _calibrated(tiny_backbone(modalities=("image",)))
        model = qat.embedding_model("image")
        images = tiny_batch(4)["images"]
        kernel = qat.image_encoder.get_layer("block_0")._feedforward_intermediate_dense.layer
        before = kernel.trainable_weights[0].numpy()
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
        history = model.fit(images, -model(images).numpy(), epochs=1, verbose=0)
        self.assertTrue(np.isfinite(history.history["loss"][0]))
        self.assertGreater(np.abs(kernel.trainable_weights[0].numpy() - before).max(), 0.0)

    def test_int8_tflite_matches_keras(self):
        qat = _calibrated(tiny_backbone(modalities=("text", "image")))
        examples = tiny_batch(8, seed=1)
        # Full integer for both (text keeps its padding through `FiniteMaskSoftmax`), and int8
        # kernels only ("dynamic") for text.
        for modality, quantize in (("image", "int8"), ("text", "int8"), ("text", "dynamic")):
            model = qat.embedding_model(modality)
            rows = [{n: examples[n][i : i + 1] for n in model.input} for i in range(8)]
            runner = self.run_tflite_test(model, rows, quantize, overrides=OVERRIDES)
            tensors = {t["index"]: t["dtype"] for t in runner.interpreter.get_tensor_details()}
            ops = runner.interpreter._get_ops_details()
            # QAT "dynamic" stores int8 kernels and dequantizes them (the fake-quant numerics).
            dequantized = {
                op["outputs"][0]: op["inputs"][0] for op in ops if op["op_name"] == "DEQUANTIZE"
            }
            matmuls = [op for op in ops if op["op_name"] in ("FULLY_CONNECTED", "CONV_2D")]
            self.assertNotEmpty(matmuls)
            for op in matmuls:
                inputs, kernel, *_ = op["inputs"]
                self.assertEqual(np.int8, tensors[dequantized.get(kernel, kernel)], op)
                if quantize == "int8":  # int8 activations in and out as well
                    self.assertEqual(np.int8, tensors[inputs], op)
                    self.assertEqual(np.int8, tensors[op["outputs"][0]], op)
        # The text input stays token ids.
        self.assertEqual(np.int32, runner.input_details()["token_ids"]["dtype"])

    def test_convolutional_stem_is_quantized(self):
        qat = _calibrated(tiny_backbone(modalities=("image",), image_stem_channels=(4, 8)))
        embedding = qat.image_encoder.get_layer("patch_embedding")
        for conv in (embedding.stem_conv_0, embedding.stem_conv_1, embedding.projection):
            self.assertIsInstance(conv, QuantizeWrapper)
        model = qat.embedding_model("image")
        images = tiny_batch(8, seed=2)["images"]
        rows = [{"images": images[i : i + 1]} for i in range(8)]
        runner = self.run_tflite_test(model, rows, "int8")
        ops = runner.interpreter._get_ops_details()
        self.assertLen([op for op in ops if op["op_name"] == "CONV_2D"], 3)
