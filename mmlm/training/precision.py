"""`runtime.precision=auto`: mixed bfloat16 where the CPU computes bf16 natively, else float32.

Measured on this project's 2-core AVX512_BF16 CPU (issue 20, reference workload, two runs):
float32 48.7-49.5 examples/s, with XLA 51.9-52.4; mixed_bfloat16 64.7-75.2, with XLA
47.7-49.3. So bf16 pays where the CPU has bf16 instructions (AVX512_BF16 dot products, AMX
tiles); without them TensorFlow emulates bf16 through float32 conversions and float32 is the
better choice. XLA helped float32 and hurt bf16, so auto turns it on with float32 only.
"""

import dataclasses

from mmlm.backend import tf
from mmlm.config.sections import Precision

# /proc/cpuinfo flags of native bf16 arithmetic.
BF16_FLAGS = ("avx512_bf16", "amx_bf16")
CPUINFO = "/proc/cpuinfo"


@dataclasses.dataclass(frozen=True)
class PrecisionChoice:
    """What `runtime.precision=auto` resolved to.

    Attributes:
        precision: the policy to train with (never AUTO).
        jit_compile: whether to compile the train step with XLA.
        reason: one line saying why, for the run's log.
    """

    precision: Precision
    jit_compile: bool
    reason: str


def cpu_flags(path=CPUINFO):
    """The CPU feature flags of the first processor in `path`, or None if it cannot be read
    (not Linux)."""
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.partition(":")[2].split())
    except OSError:
        return None
    return None


def choose_precision(flags, has_gpu=False):
    """The automatic choice for a machine with CPU `flags` (None: unknown).

    Args:
        flags: set of /proc/cpuinfo flags, or None when they could not be read.
        has_gpu: whether TensorFlow sees a GPU (auto was measured on CPUs only).
    Returns:
        A `PrecisionChoice`.
    """
    if has_gpu:
        return PrecisionChoice(
            Precision.FLOAT32,
            False,
            "a GPU is visible and auto was only measured on CPUs: float32 without XLA; set "
            "runtime.precision and runtime.jit_compile for GPUs",
        )
    if flags is None:
        return PrecisionChoice(
            Precision.FLOAT32,
            True,
            f"the CPU flags could not be read ({CPUINFO}): float32, with XLA (faster for "
            "float32 in the measurements of docs/performance.md)",
        )
    native = [flag for flag in BF16_FLAGS if flag in flags]
    if native:
        return PrecisionChoice(
            Precision.MIXED_BFLOAT16,
            False,
            f"the CPU has native bfloat16 ({', '.join(native)}): mixed_bfloat16, without XLA "
            "(measured faster than float32; XLA slowed bfloat16 down)",
        )
    return PrecisionChoice(
        Precision.FLOAT32,
        True,
        f"the CPU has no native bfloat16 (none of {', '.join(BF16_FLAGS)}): float32, with XLA "
        "(measured faster for float32)",
    )


def resolve_runtime(runtime, log=None, flags=None):
    """`runtime` with `precision=auto` replaced by the choice for this machine.

    Args:
        runtime: a `RuntimeConfig`; returned unchanged unless its precision is AUTO.
        log: `str -> None` told what was chosen and why (and if `jit_compile` was overridden).
        flags: CPU flags to decide from (tests); None reads /proc/cpuinfo.
    Returns:
        A `RuntimeConfig` whose precision is never AUTO.
    """
    if Precision(runtime.precision) != Precision.AUTO:
        return runtime
    has_gpu = bool(tf.config.list_physical_devices("GPU"))
    choice = choose_precision(cpu_flags() if flags is None else flags, has_gpu)
    if log is not None:
        log(f"runtime.precision=auto: {choice.reason}.")
        if runtime.jit_compile != choice.jit_compile:
            log(
                f"runtime.jit_compile={str(runtime.jit_compile).lower()} is overridden by "
                f"precision=auto (XLA {'on' if choice.jit_compile else 'off'})."
            )
    return dataclasses.replace(runtime, precision=choice.precision, jit_compile=choice.jit_compile)
