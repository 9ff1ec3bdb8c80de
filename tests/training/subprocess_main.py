"""Trainer checks that need a fresh TensorFlow runtime, run as `python -m` by the tests.

    python -m tests.training.subprocess_main mirrored WORKDIR
    python -m tests.training.subprocess_main parameter_server WORKDIR
    python -m tests.training.subprocess_main killed_run WORKDIR
    python -m tests.training.subprocess_main multi_worker WORKDIR INDEX PORT0,PORT1

Each prints one JSON line prefixed with `RESULT ` (`killed_run` prints `READY` and waits to be
killed once a backup exists).
"""

import dataclasses
import json
import os
import socket
import sys
import time

from mmlm.backend import keras, tf
from mmlm.config import Decay, RuntimeConfig, Strategy
from mmlm.training import run
from tests.training import toy


def _result(**values):
    print("RESULT " + json.dumps(values), flush=True)


def _weights(task):
    return [v.numpy().ravel().tolist() for v in task.trainable_variables]


def mirrored(workdir):
    """Two steps under MirroredStrategy over 2 logical CPUs vs the default strategy."""
    trainer = toy.trainer_config(steps=2, eval_every=2, clip_global_norm=1.0, seed=3)
    common = {"build_dataset": toy.build_dataset, "global_batch_size": 8, "log": lambda _: None}
    runtime = RuntimeConfig(strategy=Strategy.MIRRORED, num_devices=2)
    # First: splitting the CPU must precede every other TensorFlow operation.
    mirrored_task, mirrored_history = run(
        build_task=lambda: toy.RegressionTask(accumulation_steps=2),
        trainer=dataclasses.replace(trainer, accumulation_steps=2),
        runtime=runtime,
        workdir=os.path.join(workdir, "mirrored"),
        **common,
    )
    default_task, default_history = run(
        build_task=toy.RegressionTask,
        trainer=trainer,
        runtime=RuntimeConfig(),
        workdir=os.path.join(workdir, "default"),
        **common,
    )
    _result(
        replicas=mirrored_task.distribute_strategy.num_replicas_in_sync,
        mirrored=_weights(mirrored_task),
        default=_weights(default_task),
        mirrored_history=mirrored_history.history,
        default_history=default_history.history,
    )


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def parameter_server(workdir):
    """`run` as the chief of an in-process cluster of 2 workers and 1 parameter server."""
    ports = _free_ports(4)
    cluster = {
        "chief": [f"localhost:{ports[0]}"],
        "worker": [f"localhost:{ports[1]}", f"localhost:{ports[2]}"],
        "ps": [f"localhost:{ports[3]}"],
    }
    spec = tf.train.ClusterSpec(cluster)
    worker_config = tf.compat.v1.ConfigProto()
    worker_config.inter_op_parallelism_threads = 3  # 2 cores: let the workers' ops progress
    servers = [
        tf.distribute.Server(spec, job_name="worker", task_index=i, config=worker_config)
        for i in range(2)
    ]
    servers.append(tf.distribute.Server(spec, job_name="ps", task_index=0))
    os.environ["TF_CONFIG"] = json.dumps(
        {"cluster": cluster, "task": {"type": "chief", "index": 0}}
    )
    task, history = run(
        build_task=toy.RegressionTask,
        build_dataset=toy.build_dataset,
        trainer=toy.trainer_config(steps=12, eval_every=4, learning_rate=0.2, decay=Decay.CONSTANT),
        runtime=RuntimeConfig(strategy=Strategy.PARAMETER_SERVER),
        workdir=workdir,
        global_batch_size=8,
    )
    _result(
        strategy=type(task.distribute_strategy).__name__,
        iterations=int(task.optimizer.iterations.numpy()),
        history=history.history,
        servers=len(servers),
    )


def multi_worker(workdir, index, ports):
    """Worker `index` of a 2-worker MultiWorkerMirroredStrategy run of `multi_worker_trainer`."""
    cluster = {"worker": [f"localhost:{port}" for port in ports.split(",")]}
    os.environ["TF_CONFIG"] = json.dumps(
        {"cluster": cluster, "task": {"type": "worker", "index": int(index)}}
    )
    task, history = run(
        build_task=toy.RegressionTask,
        build_dataset=toy.build_dataset,
        trainer=multi_worker_trainer(),
        runtime=RuntimeConfig(strategy=Strategy.MULTI_WORKER_MIRRORED),
        workdir=workdir,
        global_batch_size=8,
    )
    _result(weights=_weights(task), history=history.history)


def multi_worker_trainer():
    return toy.trainer_config(steps=4, eval_every=4, clip_global_norm=1.0)


class _HangAfter(keras.callbacks.Callback):
    """Announces READY once global step `step` is done, then waits to be killed."""

    def __init__(self, step):
        super().__init__()
        self.step = step

    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.optimizer.iterations.numpy()) >= self.step:
            print("READY", flush=True)
            time.sleep(600)


def killed_run(workdir):
    """`run` for `resume_trainer()` that hangs after step 5 (the last backup is step 4)."""
    run(
        build_task=toy.RegressionTask,
        build_dataset=toy.build_dataset,
        trainer=resume_trainer(),
        runtime=RuntimeConfig(),
        workdir=workdir,
        global_batch_size=8,
        callbacks=[_HangAfter(5)],
    )


def resume_trainer():
    """8 steps in one epoch with a backup every 2: a kill after step 5 resumes mid-epoch."""
    return toy.trainer_config(steps=8, eval_every=8, checkpoint_every=2)


if __name__ == "__main__":
    modes = {
        "mirrored": mirrored,
        "parameter_server": parameter_server,
        "killed_run": killed_run,
        "multi_worker": multi_worker,
    }
    modes[sys.argv[1]](*sys.argv[2:])
