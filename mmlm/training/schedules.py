"""The learning-rate schedule and the optimizer every task trains with."""

import math

from mmlm.backend import keras, register, tf
from mmlm.config.sections import Decay

# Substrings of variable names that AdamW does not decay: biases, normalization scales and
# offsets, and learned tokens/positions/temperatures, whose scale carries meaning.
NO_WEIGHT_DECAY = (
    "bias",
    "gamma",
    "beta",
    "norm",
    "position",
    "class_token",
    "mask_token",
    "null_token",
    "logit_scale",
)

# Exponential decay interpolates geometrically towards `peak * final_ratio`, which has no
# logarithm at 0; a final ratio below this floor is raised to it.
EXPONENTIAL_FLOOR = 1e-3


@register
class WarmupDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warmup from 0 to a peak, then decay to `peak * final_ratio` at `total_steps`.

    Args:
        peak_learning_rate: the learning rate reached after the warmup.
        warmup_steps: steps of linear warmup; the rate is `peak * step / warmup_steps` there.
        total_steps: the step at which the decay reaches its end value (it stays there after).
        decay: a `Decay` or its value: "cosine" (half cosine), "linear", "exponential"
            (geometric interpolation; a `final_ratio` below `EXPONENTIAL_FLOOR` = 1e-3, 0
            included, is raised to that floor) or "constant" (the peak until the end).
        final_ratio: the end learning rate as a share of the peak.

    Example:

    >>> schedule = WarmupDecay(1e-3, warmup_steps=10, total_steps=100, decay="linear")
    >>> round(float(schedule(5)), 6), float(schedule(100))
    (0.0005, 0.0)
    """

    def __init__(
        self,
        peak_learning_rate,
        warmup_steps,
        total_steps,
        decay="cosine",
        final_ratio=0.0,
        name=None,
    ):
        super().__init__()
        decay = Decay(decay)
        if peak_learning_rate <= 0:
            raise ValueError(f"peak_learning_rate must be > 0, got {peak_learning_rate}.")
        if not 0 <= warmup_steps <= total_steps:
            raise ValueError(
                f"Need 0 <= warmup_steps <= total_steps, got warmup_steps={warmup_steps}, "
                f"total_steps={total_steps}."
            )
        if not 0.0 <= final_ratio <= 1.0:
            raise ValueError(f"final_ratio must be in [0, 1], got {final_ratio}.")
        self.peak_learning_rate = float(peak_learning_rate)
        self.warmup_steps = int(warmup_steps)
        self.total_steps = int(total_steps)
        self.decay = decay.value
        self.final_ratio = float(final_ratio)
        self.name = name

    def __call__(self, step):
        with tf.name_scope(self.name or "warmup_decay"):
            step = tf.cast(step, tf.float32)
            peak = tf.constant(self.peak_learning_rate, tf.float32)
            warmup = float(self.warmup_steps)
            decay_steps = float(max(self.total_steps - self.warmup_steps, 1))
            progress = tf.clip_by_value((step - warmup) / decay_steps, 0.0, 1.0)
            decayed = self._decayed(peak, progress)
            if self.warmup_steps == 0:
                return decayed
            return tf.where(step < warmup, peak * step / warmup, decayed)

    def _decayed(self, peak, progress):
        """The rate after the warmup at `progress` in [0, 1] of the decay."""
        final = peak * self.final_ratio
        if self.decay == Decay.COSINE.value:
            return final + (peak - final) * 0.5 * (1.0 + tf.cos(math.pi * progress))
        if self.decay == Decay.LINEAR.value:
            return peak + (final - peak) * progress
        if self.decay == Decay.EXPONENTIAL.value:
            ratio = max(self.final_ratio, EXPONENTIAL_FLOOR)
            return peak * tf.pow(ratio, progress)
        return peak * tf.ones_like(progress)  # constant

    def get_config(self):
        return {
            "peak_learning_rate": self.peak_learning_rate,
            "warmup_steps": self.warmup_steps,
            "total_steps": self.total_steps,
            "decay": self.decay,
            "final_ratio": self.final_ratio,
            "name": self.name,
        }


def make_optimizer(trainer_config):
    """AdamW with the `WarmupDecay` schedule of a `TrainerConfig`.

    Weight decay skips variables whose names contain any of `NO_WEIGHT_DECAY`. Gradient
    clipping is not the optimizer's job here: `Task.train_step` clips the all-reduced
    gradients itself (`TrainerConfig.clip_global_norm`).

    Args:
        trainer_config: a `mmlm.config.TrainerConfig`.
    Returns:
        A `keras.optimizers.AdamW` (compile wraps it in a `LossScaleOptimizer` under the
        mixed_float16 policy).
    """
    schedule = WarmupDecay(
        peak_learning_rate=trainer_config.learning_rate,
        warmup_steps=trainer_config.warmup_steps,
        total_steps=trainer_config.steps,
        decay=trainer_config.decay,
        final_ratio=trainer_config.final_learning_rate_ratio,
    )
    optimizer = keras.optimizers.AdamW(
        learning_rate=schedule,
        weight_decay=trainer_config.weight_decay,
        beta_2=0.98,
        epsilon=1e-6,
    )
    optimizer.exclude_from_weight_decay(var_names=list(NO_WEIGHT_DECAY))
    return optimizer
