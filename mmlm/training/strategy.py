"""`tf.distribute` strategies and the mixed precision policy, from a `RuntimeConfig`."""

import contextlib
import json
import os

from mmlm.backend import keras, tf
from mmlm.config.sections import Precision, Strategy
from mmlm.training.precision import resolve_runtime


def make_strategy(runtime_config):
    """The `tf.distribute.Strategy` of `runtime_config.strategy`.

    - DEFAULT: the current (default) strategy.
    - MIRRORED: mirrors over the visible GPUs; without GPUs and with `num_devices > 1`, the
      CPU is first split into that many logical devices (which TensorFlow only allows before
      its runtime starts: call this first thing in a fresh process).
    - MULTI_WORKER_MIRRORED: one process per worker, each described by `TF_CONFIG`.
    - TPU: resolves, connects to and initializes `tpu_address`.
    - PARAMETER_SERVER: the cluster comes from `TF_CONFIG`. Processes whose task is a
      `worker` or `ps` only serve: this starts their `tf.distribute.Server` and blocks in
      `join()` forever (they run the same command as the chief and never return from here).
      The chief (the coordinator) gets a `ParameterServerStrategy`.

    Args:
        runtime_config: a `mmlm.config.RuntimeConfig`.
    Returns:
        A `tf.distribute.Strategy`.
    """
    kind = runtime_config.strategy
    if kind == Strategy.DEFAULT:
        return tf.distribute.get_strategy()
    if kind == Strategy.MIRRORED:
        return _mirrored(runtime_config.num_devices)
    if kind == Strategy.MULTI_WORKER_MIRRORED:
        _require_tf_config(kind)
        return tf.distribute.MultiWorkerMirroredStrategy()
    if kind == Strategy.TPU:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=runtime_config.tpu_address)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    if kind == Strategy.PARAMETER_SERVER:
        return _parameter_server()
    raise ValueError(f"Unknown strategy {kind!r}; valid: {[s.value for s in Strategy]}.")


def _mirrored(num_devices):
    if tf.config.list_physical_devices("GPU") or num_devices <= 1:
        return tf.distribute.MirroredStrategy()
    devices = split_cpu(num_devices)
    return tf.distribute.MirroredStrategy(devices=devices)


def split_cpu(num_devices):
    """Splits the CPU into `num_devices` logical devices; returns their names.

    Raises:
        RuntimeError: TensorFlow's runtime already started with another number of CPU devices.
    """
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(num_devices)]
        )
    except RuntimeError as error:
        existing = tf.config.list_logical_devices("CPU")
        if len(existing) != num_devices:
            raise RuntimeError(
                f"runtime.num_devices={num_devices} needs the CPU split into {num_devices} "
                f"logical devices, but TensorFlow's runtime already started with "
                f"{len(existing)}. The split must happen before any TensorFlow operation: "
                "call make_strategy first in a fresh process."
            ) from error
    return [device.name for device in tf.config.list_logical_devices("CPU")]


def _require_tf_config(kind):
    if not os.environ.get("TF_CONFIG"):
        raise RuntimeError(
            f"strategy={kind.value} needs the TF_CONFIG environment variable (the cluster and "
            'this process\'s task, e.g. {"cluster": {"worker": [...]}, "task": {"type": '
            '"worker", "index": 0}}), and it is not set.'
        )


def _parameter_server():
    _require_tf_config(Strategy.PARAMETER_SERVER)
    resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
    if resolver.task_type in ("worker", "ps"):
        server = tf.distribute.Server(
            resolver.cluster_spec(),
            job_name=resolver.task_type,
            task_index=resolver.task_id,
            protocol=resolver.rpc_layer or "grpc",
            start=True,
        )
        server.join()  # Serves until the process is killed.
    return tf.distribute.ParameterServerStrategy(resolver)


def is_chief():
    """True in the process that writes summaries and owns checkpoints.

    That is the `chief` task, or worker 0 of a cluster without a chief, or any process
    without `TF_CONFIG` (single-process training).
    """
    tf_config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    task = tf_config.get("task") or {}
    task_type = task.get("type")
    if task_type is None:
        return True
    if task_type == "chief":
        return True
    has_chief = bool(tf_config.get("cluster", {}).get("chief"))
    return task_type == "worker" and int(task.get("index", 0)) == 0 and not has_chief


def set_precision(runtime_config):
    """Sets Keras's global mixed precision policy; returns the previous policy.

    `precision=auto` is resolved for this machine (`mmlm.training.precision`).

    Layers take the global policy when they are constructed, so set it before building the
    task, and restore the returned policy with `keras.mixed_precision.set_global_policy` (or
    use `precision_scope`).
    """
    previous = keras.mixed_precision.global_policy()
    runtime_config = resolve_runtime(runtime_config)
    keras.mixed_precision.set_global_policy(Precision(runtime_config.precision).value)
    return previous


@contextlib.contextmanager
def precision_scope(runtime_config):
    """Runs its body under the precision of `runtime_config`, then restores the previous one."""
    previous = set_precision(runtime_config)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)
