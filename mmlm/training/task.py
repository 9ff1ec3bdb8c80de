"""`Task`: the base of every task, holding the one train and test step of mmlm.

A task joins a model with its objective; subclasses only say how a batch becomes loss terms
(`compute_losses`). Gradient accumulation, per-replica loss scaling, the gradient all-reduce,
clipping, loss scaling for float16 and the logged scalars live here, once.
"""

from mmlm.backend import keras, tf


class LatestValue(keras.metrics.Metric):
    """A metric holding the last value it was given: the state of a step, not a measurement.

    Used for the learning rate and a task's `step_metrics` (a temperature, say), which are the
    same on every replica, so their replicas are averaged on read.
    """

    def __init__(self, name, dtype=tf.float32):
        super().__init__(name=name, dtype=dtype)
        self.value = self.add_weight(
            "value", initializer="zeros", aggregation=tf.VariableAggregation.MEAN
        )

    def update_state(self, value):
        self.value.assign(tf.cast(value, self.dtype))

    def result(self):
        return tf.identity(self.value)


class Task(keras.Model):
    """Base class of every task: a model trained on the weighted sum of its loss terms.

    Subclasses implement `compute_losses(batch, training)`, returning a dict of float32
    scalars, each the mean over the local (per-replica, per-micro-batch) batch. Terms whose
    weight is 0 need not be computed (check `self.loss_weights`) and are never logged.
    Optionally, `step_metrics()` returns scalars logged every step as their current value
    (e.g. a learned temperature).

    `train_step` (batches are dicts of tensors, not `(x, y)` pairs):

    1. splits the batch into `accumulation_steps` micro-batches along axis 0 and sums their
       gradients (the loss of each is a mean, so the average of the micro-batch gradients is
       the gradient of the whole batch);
    2. divides the loss by the number of replicas in sync, so that the all-reduced SUM of the
       replica gradients is the gradient of the global batch mean;
    3. all-reduces the gradients itself (all-reduce strategies: default, Mirrored,
       MultiWorkerMirrored, TPU), clips them to `clip_global_norm` and applies them with
       `skip_gradients_aggregation=True`. Under `ParameterServerStrategy` there is no
       all-reduce: each worker clips and applies its own gradients;
    4. under the mixed_float16 policy, `compile` wraps the optimizer in a
       `LossScaleOptimizer`; its loss is scaled and its gradients unscaled here, and steps
       whose gradients overflow are skipped by the optimizer (and left out of `grad_norm`).

    Logs: `loss` (the weighted total), `<term>_loss` per computed term and `grad_norm` (global
    norm before clipping) are means since the start of the epoch (Keras's convention, reset by
    `fit` at every epoch); `learning_rate` (the rate of this step) and the `step_metrics` are
    current values. `test_step` logs the same loss names.

    Args:
        loss_weights: weight of each loss term, by name (`{"contrastive": 1.0, ...}`).
        accumulation_steps: micro-batches per optimizer step (must divide the per-replica
            batch size).
        clip_global_norm: clip gradients to this global norm (0 disables).
        **kwargs: passed to `keras.Model` (`name`, ...).

    Example:

    ```python
    class RegressionTask(Task):
        def __init__(self, **kwargs):
            super().__init__(loss_weights={"mse": 1.0}, **kwargs)
            self.dense = keras.layers.Dense(1, name="dense")

        def compute_losses(self, batch, training):
            error = self.dense(batch["x"])[:, 0] - batch["y"]
            return {"mse": tf.reduce_mean(tf.square(error))}
    ```
    """

    def __init__(self, loss_weights, accumulation_steps=1, clip_global_norm=0.0, **kwargs):
        super().__init__(**kwargs)
        if not loss_weights or all(weight == 0 for weight in loss_weights.values()):
            raise ValueError(f"loss_weights needs a non-zero weight, got {loss_weights}.")
        if any(weight < 0 for weight in loss_weights.values()):
            raise ValueError(f"loss_weights must be >= 0, got {loss_weights}.")
        if int(accumulation_steps) < 1:
            raise ValueError(f"accumulation_steps must be >= 1, got {accumulation_steps}.")
        if clip_global_norm < 0:
            raise ValueError(f"clip_global_norm must be >= 0, got {clip_global_norm}.")
        self.loss_weights = {name: float(weight) for name, weight in loss_weights.items()}
        self.accumulation_steps = int(accumulation_steps)
        self.clip_global_norm = float(clip_global_norm)
        # Every logged value is already aggregated over the replicas (metric results, or
        # values equal on all of them). Keras's default ("sum" off TPU) would add them up
        # again under MultiWorkerMirroredStrategy, doubling the logs of two workers.
        self.distribute_reduction_method = "first"
        self._init_trackers()

    @tf.__internal__.tracking.no_automatic_dependency_tracking
    def _init_trackers(self):
        # Created on first use (a task's step metric names are only known then). Left out of
        # checkpoints: a restored running mean would leak into the next epoch's logs.
        self._trackers = {}
        self._evaluating = False

    def compute_losses(self, batch, training):
        """Returns `{term: float32 scalar}`: each term's mean over the local batch."""
        raise NotImplementedError(f"{type(self).__name__} must implement compute_losses.")

    def step_metrics(self):
        """Extra scalars logged every step as their current value (default: none)."""
        return {}

    @property
    def active_terms(self):
        """The loss terms with a non-zero weight: the ones computed and logged."""
        return [name for name, weight in self.loss_weights.items() if weight != 0]

    @property
    def loss_names(self):
        """The logged loss names: `loss` and `<term>_loss` for every active term."""
        return ["loss"] + [f"{name}_loss" for name in self.active_terms]

    @property
    def metrics(self):
        if self._evaluating:
            # Evaluation resets and reports the losses only; Keras (and, under
            # ParameterServerStrategy, its exact epoch-end results) needs `metrics` to
            # match what `test_step` returns.
            return [self._trackers[n] for n in self.loss_names if n in self._trackers]
        return list(self._trackers.values())

    def evaluate(self, *args, **kwargs):
        self._evaluating = True
        try:
            return super().evaluate(*args, **kwargs)
        finally:
            self._evaluating = False

    def get_config(self):
        return {
            "name": self.name,
            "loss_weights": dict(self.loss_weights),
            "accumulation_steps": self.accumulation_steps,
            "clip_global_norm": self.clip_global_norm,
        }

    def train_step(self, batch):
        optimizer = self.optimizer
        if isinstance(optimizer, keras.optimizers.legacy.Optimizer):
            raise TypeError(
                "Task.train_step needs a keras.optimizers.Optimizer (not a legacy one): it "
                "applies all-reduced gradients with `skip_gradients_aggregation=True`."
            )
        loss_scaled = isinstance(optimizer, keras.mixed_precision.LossScaleOptimizer)
        all_reduce = not _is_parameter_server(tf.distribute.get_strategy())
        replicas = tf.distribute.get_replica_context().num_replicas_in_sync
        grads, variables, losses = self._accumulated_gradients(batch, replicas, optimizer)
        if loss_scaled:
            grads = optimizer.get_unscaled_gradients(grads)
        if all_reduce:
            grads = _all_reduce_sum(grads)
        present = [g for g in grads if g is not None]
        grad_norm = tf.linalg.global_norm(present)
        if self.clip_global_norm > 0:
            clipped = iter(tf.clip_by_global_norm(present, self.clip_global_norm, grad_norm)[0])
            grads = [None if g is None else next(clipped) for g in grads]
        learning_rate = current_learning_rate(optimizer)  # before the update moves the step
        pairs = [(g, v) for g, v in zip(grads, variables) if g is not None]
        if all_reduce:
            optimizer.apply_gradients(pairs, skip_gradients_aggregation=True)
        else:
            optimizer.apply_gradients(pairs)

        self._log_losses(losses)
        if loss_scaled:  # An overflowing step is skipped by the optimizer: leave it out.
            finite = tf.math.is_finite(grad_norm)
            self._track("grad_norm", tf.where(finite, grad_norm, 0.0), tf.cast(finite, tf.float32))
        else:
            self._track("grad_norm", grad_norm)
        self._track("learning_rate", learning_rate, kind=LatestValue)
        for name, value in self.step_metrics().items():
            if name in self.loss_names or name in ("grad_norm", "learning_rate"):
                raise ValueError(f"step_metrics() name {name!r} collides with a trainer log.")
            self._track(name, value, kind=LatestValue)
        return {name: tracker.result() for name, tracker in self._trackers.items()}

    def test_step(self, batch):
        losses = self._checked_losses(batch, training=False)
        self._log_losses(losses)
        return {name: self._trackers[name].result() for name in self.loss_names}

    def _accumulated_gradients(self, batch, replicas, optimizer):
        """Sums the micro-batch gradients; returns (mean gradients, variables, mean losses)."""
        loss_scaled = isinstance(optimizer, keras.mixed_precision.LossScaleOptimizer)
        grad_sums, loss_sums = None, None
        for micro_batch in self.micro_batches(batch):
            with tf.GradientTape() as tape:
                losses = self._checked_losses(micro_batch, training=True)
                objective = self._weighted_total(losses) / replicas
                if loss_scaled:
                    objective = optimizer.get_scaled_loss(objective)
            # Read after the forward pass, which builds the layers on the first trace.
            variables = self.trainable_variables
            grads = [_dense(g) for g in tape.gradient(objective, variables)]
            if grad_sums is None:
                grad_sums, loss_sums = grads, losses
            else:
                grad_sums = [_add(a, b) for a, b in zip(grad_sums, grads)]
                loss_sums = {name: loss_sums[name] + losses[name] for name in losses}
        k = float(self.accumulation_steps)
        mean_grads = [None if g is None else g / k for g in grad_sums]
        return mean_grads, variables, {name: value / k for name, value in loss_sums.items()}

    def micro_batches(self, batch):
        """Splits every tensor of `batch` into `accumulation_steps` equal slices on axis 0."""
        k = self.accumulation_steps
        if k == 1:
            return [batch]
        first = tf.nest.flatten(batch)[0]
        static = first.shape[0]
        if static is not None and static % k:
            raise ValueError(
                f"The per-replica batch size {static} is not divisible by accumulation_steps={k}."
            )
        size = _batch_size(first)
        tf.debugging.assert_equal(
            size % k,
            tf.zeros_like(size),
            message=f"The per-replica batch size is not divisible by accumulation_steps={k}.",
        )
        micro = size // k
        return [
            tf.nest.map_structure(lambda t, i=i: t[i * micro : (i + 1) * micro], batch)
            for i in range(k)
        ]

    def _checked_losses(self, batch, training):
        """`compute_losses`, keeping the active terms as float32 scalars."""
        losses = self.compute_losses(batch, training=training)
        unknown = sorted(set(losses) - set(self.loss_weights))
        if unknown:
            raise ValueError(
                f"compute_losses returned terms {unknown} that have no weight in "
                f"loss_weights {sorted(self.loss_weights)}."
            )
        missing = sorted(set(self.active_terms) - set(losses))
        if missing:
            raise ValueError(f"compute_losses did not return the weighted terms {missing}.")
        checked = {}
        for name in self.active_terms:
            value = tf.cast(losses[name], tf.float32)
            if value.shape.rank not in (None, 0):
                raise ValueError(
                    f"Loss term {name!r} must be a scalar (the batch mean), got shape "
                    f"{value.shape}."
                )
            checked[name] = tf.reshape(value, [])
        return checked

    def _weighted_total(self, losses):
        return tf.add_n([self.loss_weights[name] * value for name, value in losses.items()])

    def _log_losses(self, losses):
        """Updates the `loss` and `<term>_loss` trackers."""
        self._track("loss", self._weighted_total(losses))
        for name, value in losses.items():
            self._track(f"{name}_loss", value)

    def _track(self, name, value, sample_weight=None, kind=keras.metrics.Mean):
        tracker = self._trackers.get(name)
        if tracker is None:
            tracker = self._trackers[name] = kind(name=name)
        if sample_weight is None:
            tracker.update_state(value)
        else:
            tracker.update_state(value, sample_weight=sample_weight)


def current_learning_rate(optimizer):
    """The learning rate of the optimizer's next update (its schedule at `iterations`)."""
    if isinstance(optimizer, keras.mixed_precision.LossScaleOptimizer):
        optimizer = optimizer.inner_optimizer
    schedule = getattr(optimizer, "_learning_rate", None)
    if isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule):
        return tf.cast(schedule(optimizer.iterations), tf.float32)
    return tf.cast(optimizer.learning_rate, tf.float32)


def _is_parameter_server(strategy):
    return isinstance(strategy, tf.distribute.ParameterServerStrategy)


def _all_reduce_sum(grads):
    """SUM all-reduce of the non-None gradients across the replicas in sync."""
    present = [g for g in grads if g is not None]
    if not present:
        return grads
    reduced = iter(
        tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, present)
    )
    return [None if g is None else next(reduced) for g in grads]


def _dense(grad):
    if isinstance(grad, tf.IndexedSlices):
        return tf.convert_to_tensor(grad)
    return grad


def _add(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return a + b


def _batch_size(tensor):
    if isinstance(tensor, tf.RaggedTensor):
        return tensor.nrows(out_type=tf.int32)
    return tf.shape(tensor, out_type=tf.int32)[0]
