"""`mmlm pretrain` under MultiWorkerMirroredStrategy (two processes) and MirroredStrategy.

The mirrored step check runs this file as a script in a fresh process (splitting the CPU into
logical devices must precede every TensorFlow operation):

    python -m tests.integration.test_distributed mirrored_step DATA_DIR OUTPUT_DIR
"""

import json
import math
import os
import re
import sys

import numpy as np
import pytest

from mmlm.testing import processes
from mmlm.testing.data import prepared_smoke_scenes

TIMEOUT = 900


def _pretrain(workdir, *overrides):
    config, _, _ = prepared_smoke_scenes()
    sets = [f"data.data_dir={config.data.data_dir}", *overrides]
    args = ["--config", processes.SMOKE_CONFIG, "--workdir", str(workdir)]
    for value in sets:
        args += ["--set", value]
    return processes.mmlm_command("pretrain", *args)


def _load_weights(path):
    import mmlm.models  # noqa: F401  (registers the classes the file names)
    from mmlm.backend import keras

    model = keras.models.load_model(path, compile=False)
    return {v.name: v.numpy() for v in model.weights}


@pytest.mark.slow
def test_multi_worker_mirrored_two_processes(tmp_path):
    # One workdir for both workers, as a user would run them: BackupAndRestore reads
    # backup/chief on every worker and has non-chief workers write their (synchronized) backup
    # to a temporary directory; only the chief writes TensorBoard logs and the model.
    workdir = tmp_path / "run"
    cluster = {"worker": [f"127.0.0.1:{port}" for port in processes.free_ports(2)]}
    command = _pretrain(workdir, "runtime.strategy=multi_worker_mirrored")
    commands = {}
    for index in range(2):
        tf_config = {"cluster": cluster, "task": {"type": "worker", "index": index}}
        env = processes.environment(TF_CONFIG=json.dumps(tf_config))
        commands[f"worker_{index}"] = (command, env)
    results = processes.run_together(commands, TIMEOUT, str(tmp_path))

    chief = _load_weights(os.path.join(workdir, "model", "backbone.keras"))
    worker = _load_weights(os.path.join(workdir, "workers", "worker_1", "model", "backbone.keras"))
    assert chief.keys() == worker.keys()
    for name, value in chief.items():
        np.testing.assert_array_equal(value, worker[name], err_msg=name)

    chief_pid, chief_stdout = results["worker_0"]
    steps = prepared_smoke_scenes()[0].trainer.steps
    assert f"Training {steps} steps from step 0" in chief_stdout
    assert "saved the backbone" in chief_stdout
    # Only the chief writes TensorBoard logs; a second writer would duplicate every point.
    events = processes.event_files(os.path.join(workdir, "tensorboard"))
    assert events
    assert events == processes.event_files(os.path.join(workdir, "tensorboard"), chief_pid)


@pytest.mark.slow
def test_mirrored_two_logical_cpus_trains_the_smoke_config(tmp_path):
    command = _pretrain(tmp_path / "run", "runtime.strategy=mirrored", "runtime.num_devices=2")
    stdout = processes.run(command, TIMEOUT, what="mirrored pretrain")
    trainer = prepared_smoke_scenes()[0].trainer
    losses = re.findall(r" - loss: (\S+) ", stdout)  # one line per evaluation (Keras epoch)
    assert len(losses) == math.ceil(trainer.steps / trainer.eval_every), stdout[-3000:]
    assert all(math.isfinite(float(loss)) for loss in losses), losses
    assert os.path.isfile(os.path.join(tmp_path, "run", "model", "backbone.keras"))


@pytest.mark.slow
def test_mirrored_step_matches_default_strategy(tmp_path):
    """One PretrainingTask step: 2 replicas x 4 examples == 1 device x 8 examples.

    Every objective (contrastive with negatives gathered across replicas, masked LM, masked
    image and audio patches, captioning) on the same pipeline batch, masks included.
    """
    config, _, _ = prepared_smoke_scenes()
    script = [sys.executable, "-m", "tests.integration.test_distributed", "mirrored_step"]
    processes.run([*script, config.data.data_dir, str(tmp_path)], TIMEOUT, what="mirrored step")
    with open(tmp_path / "logs.json") as f:
        logs = json.load(f)
    assert logs["replicas"] == 2
    default, mirrored = logs["default"], logs["mirrored"]
    assert set(default) == set(mirrored)
    # Every loss term, the total and the gradient norm, as on one device.
    differing = {
        name: (default[name], mirrored[name])
        for name in sorted(default)
        if not np.isclose(mirrored[name], default[name], rtol=1e-5, atol=0.0)
    }
    assert not differing, f"(one device, 2 replicas) differ: {differing}"
    before = np.load(tmp_path / "initial.npz")
    after = {kind: np.load(tmp_path / f"{kind}.npz") for kind in ("default", "mirrored")}
    moved, differing = 0, {}
    for key in before.files:
        step = after["default"][key] - before[key]  # -gradient: SGD with rate 1, no clipping
        replica_step = after["mirrored"][key] - before[key]
        moved += int(np.any(step != 0))
        if not np.allclose(replica_step, step, rtol=1e-4, atol=1e-6):
            differing[key] = float(np.max(np.abs(replica_step - step)))
    assert not differing, f"updates differ (max abs difference): {differing}"
    assert moved > 0.9 * len(before.files)


def _mirrored_step(data_dir, output_dir):
    """Writes initial.npz, default.npz, mirrored.npz (weights) and logs.json (step logs)."""
    from mmlm.config import RuntimeConfig, Strategy
    from mmlm.training.strategy import make_strategy

    mirrored = make_strategy(RuntimeConfig(strategy=Strategy.MIRRORED, num_devices=2))

    from mmlm.backend import keras, tf
    from mmlm.experiments.data import ExperimentData
    from mmlm.tasks.builders import build_pretraining_task
    from mmlm.testing.data import smoke_config

    overrides = [
        "data.global_batch_size=8",
        # Random inside the step: the replicas would draw other numbers than one device.
        "objective.caption_modality_dropout=0",
        # The optimizer update then is minus the gradient: AdamW's first step (about
        # -rate * sign(gradient)) would hide a wrongly scaled gradient.
        "trainer.clip_global_norm=0",
    ]
    config = smoke_config(data_dir, overrides)
    keras.utils.set_random_seed(config.trainer.seed)  # the pipeline's random masking
    data = ExperimentData(config)
    batch = {k: v.numpy() for k, v in next(iter(data.training_dataset("train"))).items()}

    def one_step(strategy, initial=None):
        keras.utils.set_random_seed(config.trainer.seed)
        with strategy.scope():
            task = build_pretraining_task(config, data.vocabulary_size)
            task.compile(optimizer=keras.optimizers.SGD(learning_rate=1.0))
            task.compute_losses(batch, training=False)  # creates the variables
            task.optimizer.build(task.trainable_variables)
            if initial is not None:
                task.set_weights(initial)
        before = task.get_weights()
        # `fit` splits the global batch: replica 0 gets rows 0-3, replica 1 rows 4-7.
        dataset = tf.data.Dataset.from_tensor_slices(batch).batch(8)
        history = task.fit(dataset, steps_per_epoch=1, verbose=0)
        return task, before, {k: v[0] for k, v in history.history.items()}

    default, before, default_logs = one_step(tf.distribute.get_strategy())
    replica_task, initial, mirrored_logs = one_step(mirrored, before)

    names = [f"{i}:{v.name}".replace("/", "|") for i, v in enumerate(default.trainable_variables)]

    def save(name, values):
        np.savez(os.path.join(output_dir, name), **dict(zip(names, values)))

    save("initial.npz", [initial[i] for i in _trainable_indices(replica_task)])
    save("default.npz", [v.numpy() for v in default.trainable_variables])
    save("mirrored.npz", [v.numpy() for v in replica_task.trainable_variables])
    logs = {
        "replicas": replica_task.distribute_strategy.num_replicas_in_sync,
        "default": default_logs,
        "mirrored": mirrored_logs,
    }
    with open(os.path.join(output_dir, "logs.json"), "w") as f:
        json.dump(logs, f)


def _trainable_indices(model):
    """Positions of the trainable variables in `model.weights` (and `get_weights()`)."""
    trainable = {id(v) for v in model.trainable_variables}
    return [i for i, v in enumerate(model.weights) if id(v) in trainable]


if __name__ == "__main__":
    {"mirrored_step": _mirrored_step}[sys.argv[1]](*sys.argv[2:])
