"""The one trainer: `run`, the `Task` base class, strategies, schedules and callbacks."""

from mmlm.training.callbacks import (
    BackupAndRestore,
    NonFiniteLossError,
    StopAtStep,
    StopOnNonFiniteLoss,
    Throughput,
)
from mmlm.training.precision import resolve_runtime
from mmlm.training.schedules import (
    EXPONENTIAL_FLOOR,
    NO_WEIGHT_DECAY,
    WarmupDecay,
    make_optimizer,
)
from mmlm.training.strategy import (
    is_chief,
    make_strategy,
    precision_scope,
    set_precision,
    split_cpu,
)
from mmlm.training.task import LatestValue, Task, current_learning_rate
from mmlm.training.trainer import restored_step, run

__all__ = [
    "EXPONENTIAL_FLOOR",
    "NO_WEIGHT_DECAY",
    "BackupAndRestore",
    "LatestValue",
    "NonFiniteLossError",
    "StopAtStep",
    "StopOnNonFiniteLoss",
    "Task",
    "Throughput",
    "WarmupDecay",
    "current_learning_rate",
    "is_chief",
    "make_optimizer",
    "make_strategy",
    "precision_scope",
    "resolve_runtime",
    "restored_step",
    "run",
    "set_precision",
    "split_cpu",
]
