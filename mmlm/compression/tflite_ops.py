"""The operators a `.tflite` flatbuffer needs, read from its operator codes.

A file that needs Flex (TensorFlow ops through SELECT_TF_OPS, custom code `Flex...`) or any
other custom op does not run on the plain LiteRT runtime a device ships. Every conversion in
`mmlm.compression.tflite` checks its result with `check_builtin_ops`, so such a file is an
error naming the ops rather than a file that fails later on the device.
"""

from ai_edge_litert import schema_py_generated as schema

# Builtin code -> name, e.g. 9 -> "FULLY_CONNECTED".
_BUILTIN_NAMES = {
    code: name for name, code in vars(schema.BuiltinOperator).items() if not name.startswith("_")
}
CUSTOM = schema.BuiltinOperator.CUSTOM


class NonBuiltinOpsError(ValueError):
    """A `.tflite` needs Flex (SELECT_TF_OPS) or custom ops; `ops` lists them."""

    def __init__(self, ops, what="the .tflite"):
        self.ops = tuple(ops)
        super().__init__(
            f"{what} needs operators the built-in LiteRT runtime does not have: "
            f"{', '.join(self.ops)} (Flex ops come from SELECT_TF_OPS; mmlm converts with "
            "TFLITE_BUILTINS / TFLITE_BUILTINS_INT8 only)"
        )


def _operator_codes(content):
    model = schema.Model.GetRootAs(bytearray(content), 0)
    for i in range(model.OperatorCodesLength()):
        yield model.OperatorCodes(i)


def operator_names(content):
    """Sorted names of the operators in `content` (`.tflite` bytes).

    Builtin ops by their schema name (`FULLY_CONNECTED`); custom ops as `CUSTOM:<code>`
    (Flex ops are custom ops whose code starts with `Flex`, e.g. `CUSTOM:FlexRFFT`).
    """
    names = set()
    for code in _operator_codes(content):
        # Codes below 127 live in the deprecated int8 field; newer ones in builtin_code.
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        if builtin == CUSTOM:
            custom = code.CustomCode()
            names.add(f"CUSTOM:{custom.decode() if custom is not None else '?'}")
        else:
            names.add(_BUILTIN_NAMES.get(builtin, f"BUILTIN_{builtin}"))
    return sorted(names)


def check_builtin_ops(content, what="the .tflite"):
    """Returns `operator_names(content)`; raises `NonBuiltinOpsError` on Flex or custom ops."""
    names = operator_names(content)
    custom = [name for name in names if name.startswith("CUSTOM:")]
    if custom:
        raise NonBuiltinOpsError(custom, what)
    return names
