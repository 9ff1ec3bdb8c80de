"""Float constants stored as int8 + DEQUANTIZE: smaller file, the same ops, close outputs."""

import numpy as np

from mmlm.compression.tflite import convert, input_specs
from mmlm.compression.tflite_constants import quantize_float_constants
from mmlm.compression.tflite_ops import operator_names
from mmlm.serving.tflite_runner import TFLiteRunner
from mmlm.testing import TestCase
from mmlm.testing.models import tiny_backbone, tiny_batch


class QuantizeFloatConstantsTest(TestCase):
    def test_position_tables_become_int8(self):
        model = tiny_backbone(modalities=("image",)).embedding_model("image")
        specs = input_specs(model)
        # Unmodified dynamic-range output: the tiny model's (1, 4, 16) position table is float.
        plain = convert(model, specs, "dynamic", strip_names=False)
        float_content = convert(model, specs)
        plain_float, _ = _float_constant_bytes(plain)
        self.assertGreaterEqual(plain_float, 4 * 4 * 16)
        smaller, count = quantize_float_constants(plain, min_elements=64)
        self.assertGreaterEqual(count, 1)
        self.assertLess(len(smaller), len(plain))
        self.assertLess(_float_constant_bytes(smaller)[0], plain_float - 3 * 64)
        self.assertIn("DEQUANTIZE", operator_names(smaller))
        self.assertEqual(set(operator_names(smaller)) - set(operator_names(plain)), {"DEQUANTIZE"})
        inputs = {"images": tiny_batch(batch_size=1, seed=4)["images"]}
        reference = TFLiteRunner(float_content)(inputs)
        before, after = TFLiteRunner(plain)(inputs), TFLiteRunner(smaller)(inputs)
        self.assertGreater(float(np.sum(before * after)), 0.999)
        self.assertGreater(float(np.sum(reference * after)), 0.99)
        # Below the threshold nothing changes.
        unchanged, count = quantize_float_constants(plain, min_elements=10**6)
        self.assertEqual(count, 0)
        self.assertAllEqual(TFLiteRunner(unchanged)(inputs), before)

    def test_quantize_is_symmetric_per_last_axis(self):
        from mmlm.compression.tflite_constants import _quantize

        values = np.array([[0.5, -2.0, 0.0], [-1.0, 1.0, 0.0]], np.float32)
        quantized, scales = _quantize(values)
        self.assertAllClose(scales, [1.0 / 127, 2.0 / 127, 1.0])
        self.assertAllEqual(quantized, [[64, -127, 0], [-127, 64, 0]])
        self.assertAllClose(quantized * scales, values, atol=np.max(scales[:2]) / 2)


def _float_constant_bytes(content):
    """(bytes of float32 constant buffers, their count) of a `.tflite`."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(content))
    seen, total = set(), 0
    for subgraph in model.subgraphs:
        for tensor in subgraph.tensors:
            data = model.buffers[tensor.buffer].data
            if tensor.type == schema.TensorType.FLOAT32 and data is not None:
                if tensor.buffer not in seen:
                    seen.add(tensor.buffer)
                    total += len(data)
    return total, len(seen)
