"""Toy tasks and data for the trainer tests: linear regression on a fixed synthetic set."""

import numpy as np

from mmlm.backend import keras, tf
from mmlm.config import RuntimeConfig, TrainerConfig
from mmlm.layers import TransformerEncoderBlock
from mmlm.training import Task

TRUE_WEIGHTS = np.array([[1.5], [-2.0], [0.5]], np.float32)
TRUE_BIAS = 0.25


def examples(split, count=256):
    """`{"x": (count, 3), "y": (count,)}` with y = x @ TRUE_WEIGHTS + TRUE_BIAS."""
    rng = np.random.default_rng(0 if split == "train" else 1)
    x = rng.normal(size=(count, 3)).astype(np.float32)
    y = (x @ TRUE_WEIGHTS)[:, 0] + TRUE_BIAS
    return {"x": x, "y": y.astype(np.float32)}


def build_dataset(split, input_context, global_batch_size):
    """The `build_dataset` contract of `mmlm.training.run`."""
    data = tf.data.Dataset.from_tensor_slices(examples(split, 256 if split == "train" else 64))
    batch_size = global_batch_size
    if input_context is not None:
        batch_size = input_context.get_per_replica_batch_size(global_batch_size)
        data = data.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
    return data.batch(batch_size, drop_remainder=True)


class RegressionTask(Task):
    """`mse` (and an optional `l2` term on the kernel) of a Dense(1) regression.

    Args:
        nan_at_step: if set, the loss (and so every gradient) is NaN from the 1-based optimizer
            step `nan_at_step` on.
        temperature: if set, a trainable scalar reported by `step_metrics` as `temperature`.
        report_batch_size: if set, `step_metrics` reports the last batch size as `batch_size`.
        worsening_validation: if set, the validation loss grows by 1 per optimizer step.
    """

    def __init__(
        self,
        loss_weights=None,
        nan_at_step=None,
        temperature=False,
        report_batch_size=False,
        worsening_validation=False,
        **kwargs,
    ):
        super().__init__(loss_weights=loss_weights or {"mse": 1.0}, **kwargs)
        self.nan_at_step = nan_at_step
        self.worsening_validation = worsening_validation
        self.dense = keras.layers.Dense(
            1, kernel_initializer="zeros", bias_initializer="zeros", name="dense"
        )
        self.temperature = (
            self.add_weight(name="temperature", shape=(), initializer="ones")
            if temperature
            else None
        )
        self.batch_size = (
            tf.Variable(
                0,
                trainable=False,
                name="batch_size",
                aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA,
            )
            if report_batch_size
            else None
        )

    def call(self, inputs):
        return self.dense(inputs["x"])[:, 0]

    def compute_losses(self, batch, training):
        prediction = tf.cast(self(batch, training=training), tf.float32)
        if self.temperature is not None:
            prediction = prediction * self.temperature
        losses = {"mse": tf.reduce_mean(tf.square(prediction - batch["y"]))}
        if self.nan_at_step is not None:
            poisoned = self.optimizer.iterations >= self.nan_at_step - 1
            losses["mse"] *= tf.where(poisoned, np.nan, 1.0)
        if self.worsening_validation and not training:
            losses["mse"] += tf.cast(self.optimizer.iterations, tf.float32)
        if self.batch_size is not None:
            self.batch_size.assign(tf.shape(batch["y"])[0])
        if self.loss_weights.get("l2"):
            losses["l2"] = tf.reduce_sum(tf.square(self.dense.kernel))
        return losses

    def step_metrics(self):
        metrics = {}
        if self.temperature is not None:
            metrics["temperature"] = tf.convert_to_tensor(self.temperature)
        if self.batch_size is not None:
            metrics["batch_size"] = tf.convert_to_tensor(self.batch_size)
        return metrics


class BlockRegressionTask(RegressionTask):
    """`RegressionTask` through a Transformer block: x → 3 tokens of width 4 → block → mean."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.tokens = keras.layers.Dense(12, name="tokens")
        self.block = TransformerEncoderBlock(intermediate_dim=8, num_heads=2, name="block")

    def call(self, inputs):
        tokens = tf.reshape(self.tokens(inputs["x"]), (-1, 3, 4))
        return self.dense(tf.reduce_mean(self.block(tokens), axis=1))[:, 0]


def trainer_config(**overrides):
    """A small `TrainerConfig` for the toy task."""
    defaults = {
        "steps": 8,
        "learning_rate": 0.05,
        "warmup_steps": 0,
        "weight_decay": 0.0,
        "clip_global_norm": 0.0,
        "eval_every": 4,
        "eval_batches": 2,
        "checkpoint_every": 2,
        "log_every": 1,
        "seed": 1,
    }
    defaults.update(overrides)
    return TrainerConfig(**defaults)


def runtime_config(**overrides):
    return RuntimeConfig(**overrides)
