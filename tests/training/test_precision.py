"""`runtime.precision=auto`: the decision from injected CPU flags, and where it is applied."""

import os
import tempfile

from mmlm.backend import keras
from mmlm.config import Precision, RuntimeConfig, apply_overrides
from mmlm.config.experiment import ExperimentConfig
from mmlm.testing import TestCase
from mmlm.training import precision_scope, resolve_runtime
from mmlm.training.precision import choose_precision, cpu_flags

AVX512 = frozenset({"fpu", "sse2", "avx2", "avx512f", "avx512bw"})
AUTO = RuntimeConfig(precision=Precision.AUTO)


class PrecisionAutoTest(TestCase):
    def test_native_bf16_chooses_mixed_bfloat16_without_xla(self):
        for flag in ("avx512_bf16", "amx_bf16"):
            choice = choose_precision(AVX512 | {flag})
            self.assertEqual(choice.precision, Precision.MIXED_BFLOAT16)
            self.assertFalse(choice.jit_compile)
            self.assertIn(flag, choice.reason)

    def test_no_native_bf16_chooses_float32_with_xla(self):
        for flags in (AVX512, frozenset({"avx512_bf16x"}), frozenset()):
            choice = choose_precision(flags)
            self.assertEqual(choice.precision, Precision.FLOAT32)
            self.assertTrue(choice.jit_compile)
            self.assertIn("no native bfloat16", choice.reason)

    def test_unknown_cpu_and_gpu(self):
        unknown = choose_precision(None)
        self.assertEqual((unknown.precision, unknown.jit_compile), (Precision.FLOAT32, True))
        self.assertIn("could not be read", unknown.reason)
        gpu = choose_precision(AVX512 | {"avx512_bf16"}, has_gpu=True)
        self.assertEqual((gpu.precision, gpu.jit_compile), (Precision.FLOAT32, False))
        self.assertIn("GPU", gpu.reason)

    def test_cpu_flags_reads_the_first_flags_line(self):
        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, "cpuinfo")
            with open(path, "w", encoding="utf-8") as f:
                f.write("processor\t: 0\nflags\t\t: fpu avx512_bf16 amx_tile\n\nflags\t: x\n")
            self.assertEqual(cpu_flags(path), {"fpu", "avx512_bf16", "amx_tile"})
            self.assertIsNone(cpu_flags(os.path.join(directory, "missing")))

    def test_resolve_logs_the_choice_and_an_overridden_jit_compile(self):
        lines = []
        runtime = resolve_runtime(AUTO, lines.append, flags=AVX512 | {"avx512_bf16"})
        self.assertEqual(runtime.precision, Precision.MIXED_BFLOAT16)
        self.assertFalse(runtime.jit_compile)
        self.assertEqual(len(lines), 1)
        self.assertIn("runtime.precision=auto: the CPU has native bfloat16", lines[0])
        lines.clear()
        runtime = resolve_runtime(
            RuntimeConfig(precision=Precision.AUTO, jit_compile=False), lines.append, flags=AVX512
        )
        self.assertEqual((runtime.precision, runtime.jit_compile), (Precision.FLOAT32, True))
        self.assertIn("runtime.jit_compile=false is overridden", lines[1])
        explicit = RuntimeConfig(precision=Precision.MIXED_BFLOAT16, jit_compile=True)
        self.assertIs(resolve_runtime(explicit, lines.append), explicit)

    def test_auto_from_the_command_line_sets_a_real_policy(self):
        config = apply_overrides(ExperimentConfig(), ["runtime.precision=auto"])
        self.assertEqual(config.runtime.precision, Precision.AUTO)
        with precision_scope(config.runtime):
            policy = keras.mixed_precision.global_policy().name
        expected = resolve_runtime(config.runtime).precision.value
        self.assertEqual(policy, expected)
