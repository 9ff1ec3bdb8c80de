"""`run`: the one trainer of mmlm. Tasks supply the model, the data and the losses."""

import math
import os

from mmlm import atomic_files
from mmlm.backend import keras, tf
from mmlm.config.sections import Precision, Strategy
from mmlm.layers import recompute_blocks
from mmlm.training import callbacks as callbacks_lib
from mmlm.training.checkpoints import recover_backups
from mmlm.training.precision import resolve_runtime
from mmlm.training.schedules import make_optimizer
from mmlm.training.strategy import is_chief, make_strategy, precision_scope

_BACKUP_DIR = "backup"
_TENSORBOARD_DIR = "tensorboard"


def run(
    *,
    build_task,
    build_dataset,
    trainer,
    runtime,
    workdir,
    global_batch_size,
    callbacks=(),
    log=print,
    strategy=None,
):
    """Trains a task for `trainer.steps` optimizer steps, resuming from `workdir` if it can.

    Rerunning the same call after a crash (even SIGKILL) continues from the last backup
    (every `trainer.checkpoint_every` steps, in `workdir/backup`); rerunning a finished run
    restores it and trains no further step. The last two backups are kept: when the newest
    does not read back whole (corrupted, truncated), the run resumes from the one before,
    logging a warning that names the damaged files (`recover_backups`). A full disk while
    backing up stops training with `mmlm.atomic_files.DiskFullError`; earlier backups stay.

    Args:
        build_task: `() -> Task`, called under the strategy scope with the precision policy
            of `runtime` set. `trainer.accumulation_steps` and `trainer.clip_global_norm` are
            applied to the task (the config is their source of truth).
        build_dataset: `(split, input_context, global_batch_size) -> tf.data.Dataset` of dict
            batches. With an `input_context` ("train"), batches have the per-replica size
            (`input_context.get_per_replica_batch_size(global_batch_size)`) and the pipeline
            reads its shard; without one ("validation"), batches have the global size. Finite
            train data is repeated here (endless data, repeated before its shuffle, keeps the
            shuffle buffer full at epoch ends); the validation data must be finite unless
            `trainer.eval_batches` is set. Returning None for "validation" disables it.
        trainer: a `mmlm.config.TrainerConfig`.
        runtime: a `mmlm.config.RuntimeConfig` (`precision=auto` is resolved here and the
            choice logged).
        workdir: run directory (`backup/`, `tensorboard/`). Only the chief writes
            TensorBoard logs (see `is_chief`).
        global_batch_size: examples per optimizer step over all replicas.
        callbacks: extra Keras callbacks, run after the NaN guard and before the backup.
        log: `str -> None` for the start-up lines.
        strategy: the strategy of `runtime` if the caller made it already (with `make_strategy`,
            before its own first TensorFlow operation: splitting the CPU and setting up
            MultiWorkerMirroredStrategy's collectives must precede every operation); None
            makes it here.
    Returns:
        `(task, history)`: the trained task and the `keras.callbacks.History` of this call.

    Notes:
        Every `trainer.eval_every` steps is one Keras epoch (an evaluation); the last one is
        cut short so that exactly `trainer.steps` steps are taken. The batch-size ramp-up
        trains the first `batch_ramp_up_steps` steps on a separate pipeline of
        `initial_batch_size` batches; the main stage then starts a fresh pass over the data.
        A resumed run also starts a fresh pass over the data (tf.data position is not saved),
        and early stopping starts counting its patience again.

        Under `ParameterServerStrategy`, Keras backs up at evaluation (epoch) ends only, and
        batch-level logs (TensorBoard's per-step scalars, the NaN check, throughput) happen at
        epoch ends; each worker consumes its share of the ramp-up steps, so the ramp-up
        length is approximate there.
    """
    runtime = resolve_runtime(runtime, log)
    _validate(trainer, runtime, global_batch_size)
    if strategy is None:
        strategy = make_strategy(runtime)
    backup_dir = os.path.join(workdir, _BACKUP_DIR)
    if is_chief():  # a damaged newest backup: resume from the previous one (with a warning)
        recover_backups(os.path.join(backup_dir, "chief"), log)
    steps_per_epoch = min(trainer.eval_every, trainer.steps)
    epochs = math.ceil(trainer.steps / steps_per_epoch)
    position = _backup_position(backup_dir)
    keras.utils.set_random_seed(trainer.seed)
    with precision_scope(runtime), strategy.scope():
        task = build_task()
        if runtime.recompute_blocks:
            count = recompute_blocks(task)
            log(f"runtime.recompute_blocks: {count} Transformer blocks recompute in backward.")
        task.accumulation_steps = trainer.accumulation_steps
        task.clip_global_norm = trainer.clip_global_norm
        task.compile(
            optimizer=make_optimizer(trainer),
            jit_compile=runtime.jit_compile,
            steps_per_execution=runtime.steps_per_execution,
        )
        _build(task, build_dataset, strategy, global_batch_size)
    start_step = _announce(log, position, trainer, epochs, steps_per_epoch, backup_dir)
    train_data = _train_data(strategy, build_dataset, trainer, global_batch_size, start_step)
    validation = build_dataset("validation", None, global_batch_size)
    if validation is None and trainer.early_stopping_patience > 0:
        raise ValueError("Early stopping needs a validation split, but build_dataset gave none.")
    with atomic_files.disk_full_errors(workdir):  # backups, TensorBoard logs
        history = task.fit(
            train_data,
            epochs=epochs,
            steps_per_epoch=steps_per_epoch,
            initial_epoch=0,  # BackupAndRestore moves it (and the step) to the restored position
            validation_data=validation,
            validation_steps=(trainer.eval_batches or None) if validation is not None else None,
            callbacks=_callbacks(trainer, workdir, global_batch_size, callbacks, validation),
            verbose=2 if is_chief() else 0,
        )
    return task, history


def _announce(log, position, trainer, epochs, steps_per_epoch, backup_dir):
    """Logs whether the run starts, resumes or is finished; returns the step it starts at."""
    if position is None:
        log(f"Training {trainer.steps} steps from step 0 (no backup yet; backups: {backup_dir}).")
        return 0
    step, epoch, batch = position
    # BackupAndRestore records a finished (or early-stopped) run as the end of its last epoch.
    if epoch == epochs - 1 and batch in (-1, steps_per_epoch - 1):
        log(f"Already finished at step {step} ({backup_dir}): restoring, not training.")
    else:
        log(f"Resuming from step {step} of {trainer.steps} (backup in {backup_dir}).")
    return step


def restored_step(backup_dir):
    """The global step of the last backup in `backup_dir`, or None without one."""
    position = _backup_position(backup_dir)
    return None if position is None else position[0]


def _backup_position(backup_dir):
    """(global step, epoch, batch in the epoch) of the last backup, or None without one."""
    checkpoint = tf.train.latest_checkpoint(os.path.join(backup_dir, "chief"))
    if checkpoint is None:
        return None
    return tuple(
        int(tf.train.load_variable(checkpoint, f"{name}/.ATTRIBUTES/VARIABLE_VALUE"))
        for name in ("train_counter", "ckpt_saved_epoch", "ckpt_saved_batch")
    )


def _build(task, build_dataset, strategy, global_batch_size):
    """Creates the task's and the optimizer's variables from one train micro-batch.

    `BackupAndRestore` restores the backup before the first step, into variables that must
    exist by then; and the optimizer must be built on all trainable variables at once.
    """
    context = tf.distribute.InputContext(num_replicas_in_sync=strategy.num_replicas_in_sync)
    batch = next(iter(build_dataset("train", context, global_batch_size)))
    task.compute_losses(task.micro_batches(batch)[0], training=False)
    task.built = True
    task.optimizer.build(task.trainable_variables)


def _validate(trainer, runtime, global_batch_size):
    spe = runtime.steps_per_execution
    for name in ("steps", "eval_every", "checkpoint_every", "log_every"):
        value = getattr(trainer, name)
        if value < 1:
            raise ValueError(f"trainer.{name} must be >= 1, got {value}.")
        if value % spe and not (name == "eval_every" and value > trainer.steps):
            raise ValueError(
                f"trainer.{name}={value} must be a multiple of "
                f"runtime.steps_per_execution={spe} (Keras steps, logs and backs up once per "
                "execution)."
            )
    ramp = trainer.batch_ramp_up_steps
    if ramp > 0 and trainer.initial_batch_size < 1:
        raise ValueError("trainer.batch_ramp_up_steps needs trainer.initial_batch_size >= 1.")
    if global_batch_size < 1:
        raise ValueError(f"global_batch_size must be >= 1, got {global_batch_size}.")
    precision = Precision(runtime.precision)
    strategy = Strategy(runtime.strategy)
    if precision == Precision.MIXED_FLOAT16 and strategy in (
        Strategy.TPU,
        Strategy.PARAMETER_SERVER,
    ):
        raise ValueError(
            f"precision=mixed_float16 needs loss scaling, which tf_keras does not support "
            f"under strategy={strategy.value}; use mixed_bfloat16."
        )
    split_cpu = strategy == Strategy.MIRRORED and runtime.num_devices > 1
    if split_cpu and runtime.jit_compile and not tf.config.list_physical_devices("GPU"):
        # XLA compiles the replica step for CPU:0 and cannot reach the other logical CPU
        # devices' variables (TF 2.21, plain Keras models included).
        raise ValueError("jit_compile does not work with MirroredStrategy over logical CPUs.")


def _train_data(strategy, build_dataset, trainer, global_batch_size, start_step):
    """The repeated training data, with the ramp-up batches first (from `start_step` on)."""
    ramp_steps = max(trainer.batch_ramp_up_steps - start_step, 0)
    parameter_server = isinstance(strategy, tf.distribute.ParameterServerStrategy)

    def dataset_fn(input_context):
        data = build_dataset("train", input_context, global_batch_size).repeat()
        if ramp_steps == 0:
            return data
        if parameter_server:
            # Workers step asynchronously: each takes its share of the ramp-up steps.
            per_pipeline = math.ceil(ramp_steps / input_context.num_input_pipelines)
        else:
            # A step takes one batch for each replica that this pipeline feeds.
            replicas = input_context.num_replicas_in_sync // input_context.num_input_pipelines
            per_pipeline = ramp_steps * replicas
        ramp = build_dataset("train", input_context, trainer.initial_batch_size)
        return ramp.repeat().take(per_pipeline).concatenate(data)

    if parameter_server:
        return keras.utils.experimental.DatasetCreator(dataset_fn)
    return strategy.distribute_datasets_from_function(dataset_fn)


def _callbacks(trainer, workdir, global_batch_size, extra, validation):
    """The callbacks in the order that keeps a non-finite step out of the backups."""

    def batch_size_at(step):
        if step < trainer.batch_ramp_up_steps:
            return trainer.initial_batch_size
        return global_batch_size

    result = [callbacks_lib.StopOnNonFiniteLoss(), *extra]
    result.append(
        callbacks_lib.BackupAndRestore(
            os.path.join(workdir, _BACKUP_DIR), every=trainer.checkpoint_every
        )
    )
    if is_chief():
        log_dir = os.path.join(workdir, _TENSORBOARD_DIR)
        result.append(
            keras.callbacks.TensorBoard(log_dir, update_freq=trainer.log_every, write_graph=False)
        )
        result.append(callbacks_lib.Throughput(log_dir, batch_size_at, every=trainer.log_every))
    if trainer.early_stopping_patience > 0 and validation is not None:
        result.append(
            keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=trainer.early_stopping_patience
            )
        )
    result.append(callbacks_lib.StopAtStep(trainer.steps))
    return result
