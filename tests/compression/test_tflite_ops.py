"""Every conversion allows built-in ops only, and the flatbuffer check finds Flex ops."""

from mmlm.backend import tf
from mmlm.compression.tflite import _configure, convert_signatures
from mmlm.compression.tflite_ops import NonBuiltinOpsError, check_builtin_ops, operator_names
from mmlm.compression.tflite_process import TFLiteConversionError
from mmlm.testing import TestCase


class DeterminantModule(tf.Module):
    """A determinant: TFLite has no builtin for it, so only Flex could run it."""

    @tf.function(input_signature=[tf.TensorSpec([3, 3], tf.float32)])
    def determinant(self, x):
        return {"determinant": tf.linalg.det(x)}


class BuiltinOpsOnlyTest(TestCase):
    def test_converter_allows_builtins_only(self):
        for quantize, expected in (
            ("none", {tf.lite.OpsSet.TFLITE_BUILTINS}),
            ("float16", {tf.lite.OpsSet.TFLITE_BUILTINS}),
            ("dynamic", {tf.lite.OpsSet.TFLITE_BUILTINS}),
            ("int8", {tf.lite.OpsSet.TFLITE_BUILTINS_INT8}),
        ):
            converter = tf.lite.TFLiteConverter.from_concrete_functions([])
            _configure(converter, quantize, lambda: iter(()))
            self.assertEqual(set(converter.target_spec.supported_ops), expected, quantize)
            self.assertFalse(converter.allow_custom_ops, quantize)

    def test_flex_ops_are_found_and_refused(self):
        module = DeterminantModule()
        signatures = {"det": module.determinant.get_concrete_function()}
        # What SELECT_TF_OPS would make of it: a Flex op, which the check names.
        converter = tf.lite.TFLiteConverter.from_concrete_functions([signatures["det"]], module)
        converter.target_spec.supported_ops = [
            tf.lite.OpsSet.TFLITE_BUILTINS,
            tf.lite.OpsSet.SELECT_TF_OPS,
        ]
        flex = converter.convert()
        self.assertIn("CUSTOM:FlexMatrixDeterminant", operator_names(flex))
        with self.assertRaisesRegex(NonBuiltinOpsError, "CUSTOM:FlexMatrixDeterminant"):
            check_builtin_ops(flex)
        # mmlm's conversion (in its own process) refuses it, with the converter's message.
        with self.assertRaisesRegex(
            TFLiteConversionError,
            r"(?s)converting signatures \['det'\] .* to a none \.tflite failed: "
            r"ConverterError: .*MatrixDeterminant",
        ):
            convert_signatures(module, signatures)
