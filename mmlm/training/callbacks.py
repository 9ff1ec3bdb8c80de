"""The callbacks of the one trainer: a NaN guard, checkpoints, throughput, the step limit.

Order matters: `StopOnNonFiniteLoss` must come before any callback that saves state
(`BackupAndRestore`, `ModelCheckpoint`). Keras calls the callbacks of one event in list order,
so the guard raises before a checkpoint of a non-finite step can be written. `mmlm.training.run`
builds the list in that order.

All of them accept the `RemoteValue` logs `ParameterServerStrategy` passes to batch hooks
(`_supports_tf_logs`); there they act at epoch ends only, as per-step values would force the
coordinator to wait for every step.
"""

import math
import os
import time

from mmlm import atomic_files
from mmlm.backend import keras, tf
from mmlm.training.checkpoints import KEEP_BACKUPS


class NonFiniteLossError(RuntimeError):
    """A training loss (or the gradient norm) became NaN or infinite."""


def _is_dict(logs):
    # ParameterServerStrategy passes a RemoteValue to batch hooks instead of a dict.
    return isinstance(logs, dict)


def _uses_coordinator(model):
    return getattr(model, "_cluster_coordinator", None) is not None


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Raises `NonFiniteLossError` when `loss`, any `*_loss` or `grad_norm` is NaN/Inf.

    Checked after every training batch (and at epoch ends). Put it first in the callback list:
    it then raises before checkpoint callbacks run for that batch, so the last backup is of a
    step whose loss and gradients were finite.

    The error names the global step: `optimizer.iterations` after the failing step (a 1-based
    step count that survives resuming; with `steps_per_execution > 1`, the last step of the
    execution that contained the failure).
    """

    def __init__(self):
        super().__init__()
        self._supports_tf_logs = True

    def on_train_batch_end(self, batch, logs=None):
        if _is_dict(logs):
            self._check(logs)

    def on_epoch_end(self, epoch, logs=None):
        if _is_dict(logs):
            self._check({k: v for k, v in logs.items() if not k.startswith("val_")})

    def _check(self, logs):
        watched = {
            name: value
            for name, value in logs.items()
            if name == "loss" or name.endswith("_loss") or name == "grad_norm"
        }
        bad = {}
        for name, value in watched.items():
            value = float(value)
            if not math.isfinite(value):
                bad[name] = value
        if bad:
            step = int(self.model.optimizer.iterations.numpy())
            terms = ", ".join(f"{name}={value}" for name, value in bad.items())
            raise NonFiniteLossError(
                f"Non-finite training values at step {step}: {terms}. Training stopped before "
                "this step was checkpointed; the last backup precedes it."
            )


class Throughput(keras.callbacks.Callback):
    """Measures training examples per second and writes `throughput/examples_per_second`.

    Every `every` steps, the examples of the steps since the last measurement are divided by
    the wall time between the two batch ends (the first batch of each epoch only starts the
    clock, so tracing and evaluation are not counted). The value is written to TensorBoard
    (its own writer, in `log_dir/train`); the epoch logs (and so the History) get the epoch's
    rate as `examples_per_second`. The batch logs are left alone: they are Keras's step
    results, which `fit` compares with the model's metrics at the epoch end.

    Args:
        log_dir: TensorBoard directory of the run.
        global_batch_size: examples per step, or a function `step -> examples` (the global
            batch size of the 0-based step, e.g. during a batch-size ramp-up).
        every: steps between measurements.
    """

    def __init__(self, log_dir, global_batch_size, every=1):
        super().__init__()
        self._supports_tf_logs = True
        self.log_dir = log_dir
        self.global_batch_size = global_batch_size
        self.every = max(int(every), 1)
        self._writer = None

    def _examples(self, start, stop):
        """Examples of the 0-based steps [start, stop)."""
        if callable(self.global_batch_size):
            return sum(self.global_batch_size(step) for step in range(start, stop))
        return (stop - start) * self.global_batch_size

    def _step(self):
        return int(self.model.optimizer.iterations.numpy())

    def on_train_begin(self, logs=None):
        self._writer = tf.summary.create_file_writer(os.path.join(self.log_dir, "train"))

    def on_epoch_begin(self, epoch, logs=None):
        self._last = None  # (step, time) of the last measurement
        self._epoch_start = self._epoch_stop = None
        if _uses_coordinator(self.model):
            # No per-batch timing under ParameterServerStrategy: the epoch is the unit.
            self._epoch_start = (self._step(), time.perf_counter())

    def on_train_batch_end(self, batch, logs=None):
        if not _is_dict(logs):
            return
        step, now = self._step(), time.perf_counter()
        self._epoch_stop = (step, now)
        if self._last is None:
            self._last = self._epoch_start = (step, now)
        elif step - self._last[0] >= self.every:
            self._write(self._rate(self._last, (step, now)), step)
            self._last = (step, now)

    def on_test_begin(self, logs=None):
        # Validation inside `fit`: the training time of the epoch ends here.
        if self._epoch_start is not None and self._epoch_stop is None:
            self._epoch_stop = (self._step(), time.perf_counter())

    def on_epoch_end(self, epoch, logs=None):
        if self._epoch_start is None or logs is None:
            return
        stop = self._epoch_stop or (self._step(), time.perf_counter())
        if stop[0] > self._epoch_start[0]:
            logs["examples_per_second"] = self._rate(self._epoch_start, stop)
            if _uses_coordinator(self.model):
                self._write(logs["examples_per_second"], stop[0])

    def _rate(self, start, stop):
        return self._examples(start[0], stop[0]) / max(stop[1] - start[1], 1e-9)

    def _write(self, rate, step):
        with self._writer.as_default(), tf.summary.record_if(True):
            tf.summary.scalar("throughput/examples_per_second", rate, step=step)
        self._writer.flush()

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None


class StopAtStep(keras.callbacks.Callback):
    """Stops `fit` once `steps` optimizer steps are done in total (the last epoch may be short).

    `fit` runs whole epochs of `steps_per_epoch`; when `steps` is not a multiple of it, this
    ends the last epoch early (validation and epoch-end callbacks still run). The global step
    is `epoch * steps_per_epoch + batch + 1`, which is exact under every strategy, including
    `ParameterServerStrategy` where steps are scheduled asynchronously.
    """

    def __init__(self, steps):
        super().__init__()
        self._supports_tf_logs = True
        self.steps = int(steps)
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self._epoch * self.params["steps"] + batch + 1 >= self.steps:
            self.model.stop_training = True


class BackupAndRestore(keras.callbacks.BackupAndRestore):
    """Keras's `BackupAndRestore`, checkpointing every `every` global steps, resumable.

    Rerunning the same `fit` after a crash (even SIGKILL) restores the model, the optimizer and
    Keras's step counter from the last backup and continues with the step after it, in the
    middle of an epoch if need be. What it adds to `keras.callbacks.BackupAndRestore`:

    - backups at global steps that are multiples of `every` (Keras counts batches since the
      start of each `fit` call and counts one per `steps_per_execution` group);
    - the recorded position is the last step of an execution (Keras records the first, so
      with `steps_per_execution > 1` a resumed run would repeat steps);
    - a last backup when `fit` ends normally (all steps done, or early stopping), recorded as
      the end of the last epoch: rerunning a finished run restores it and trains no step.

    - the last `KEEP_BACKUPS` (2) checkpoints are kept, not only the newest, so a damaged
      newest one leaves a previous one to resume from (`mmlm.training.checkpoints`);
    - a full disk while writing a backup raises `mmlm.atomic_files.DiskFullError` naming the
      backup directory (the checkpoints written before stay readable).

    Under `ParameterServerStrategy`, Keras only backs up at epoch ends, and so does this.
    The backup is never deleted.

    Args:
        backup_dir: directory of the backups (shared by all workers).
        every: global steps between backups.
    """

    def __init__(self, backup_dir, every):
        super().__init__(backup_dir, save_freq=int(every), delete_checkpoint=False)
        self.every = int(every)
        self._stepped = False  # whether this fit trained (a finished run's rerun does not)
        self._first = 0  # global index of the first step of the current execution

    def _parameter_server(self):
        return isinstance(self.model.distribute_strategy, tf.distribute.ParameterServerStrategy)

    def on_train_begin(self, logs=None):
        if self._parameter_server():
            self.save_freq = "epoch"
        super().on_train_begin(logs)
        for manager in (
            self._training_state.read_checkpoint_manager,
            self._training_state.write_checkpoint_manager,
        ):
            # Keras keeps one (tf_keras 2.21 has no argument for it); the manager reads the
            # attribute when it deletes old checkpoints after each save.
            manager._max_to_keep = KEEP_BACKUPS
        self._stepped = False

    def _backup(self, epoch, batch=0):
        atomic_files.kill_point("backup")  # tests: a delayed kill lands inside TF's writer
        with atomic_files.disk_full_errors(self.backup_dir):
            super()._backup(epoch=epoch, batch=batch)

    def _global_step(self, batch):
        """Steps done before the 0-based step `batch` of the current epoch."""
        return self._current_epoch * self.params["steps"] + batch

    def on_train_batch_begin(self, batch, logs=None):
        # Keras records the position here; it is recorded at the end of the execution instead.
        self._first = self._global_step(batch)

    def on_train_batch_end(self, batch, logs=None):
        if self._parameter_server():
            return
        self._stepped = True
        self._training_state.backup_if_preempted()
        self._training_state._ckpt_saved_batch.assign(batch)
        if (self._global_step(batch) + 1) // self.every > self._first // self.every:
            self._backup(epoch=self._current_epoch, batch=batch)

    def on_epoch_end(self, epoch, logs=None):
        self._stepped = True
        super().on_epoch_end(epoch, logs)

    def on_train_end(self, logs=None):
        if self._stepped:
            epochs, steps_per_epoch = self.params["epochs"], self.params["steps"]
            self._training_state._ckpt_saved_epoch.assign(epochs - 1)
            self._training_state._ckpt_saved_batch.assign(steps_per_epoch - 1)
            self._backup(epoch=epochs - 1, batch=steps_per_epoch - 1)
        super().on_train_end(logs)
