import glob
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading

import numpy as np

from mmlm.backend import keras, tf
from mmlm.config import Precision
from mmlm.testing import TestCase
from mmlm.training import NonFiniteLossError, WarmupDecay, restored_step, run
from tests.training import subprocess_main, toy

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_toy(workdir, trainer=None, runtime=None, build_task=toy.RegressionTask, **kwargs):
    """`run` on the toy task; returns (task, history, logged lines)."""
    lines = []
    task, history = run(
        build_task=build_task,
        build_dataset=toy.build_dataset,
        trainer=trainer or toy.trainer_config(),
        runtime=runtime or toy.runtime_config(),
        workdir=workdir,
        global_batch_size=8,
        log=lines.append,
        **kwargs,
    )
    return task, history, lines


def new_workdir(test):
    """A fresh directory (`get_temp_dir` is the same one for a whole test)."""
    return tempfile.mkdtemp(dir=test.get_temp_dir())


def iterations(task):
    return int(task.optimizer.iterations.numpy())


def scalars(directory):
    """`{tag: [(step, value), ...]}` of the TensorBoard event files in `directory`."""
    found = {}
    for path in sorted(glob.glob(os.path.join(directory, "events.out.tfevents.*"))):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                # Keras writes scalars as tensors; older writers as simple_value.
                number = (
                    float(tf.make_ndarray(value.tensor))
                    if value.HasField("tensor")
                    else value.simple_value
                )
                found.setdefault(value.tag, []).append((event.step, number))
    return found


class _Record(keras.callbacks.Callback):
    """Records a log value (or the step count) at every batch end."""

    def __init__(self, key=None):
        super().__init__()
        self.key = key
        self.values = []

    def on_train_batch_end(self, batch, logs=None):
        self.values.append(float(logs[self.key]) if self.key else batch)


class _CrashAt(keras.callbacks.Callback):
    """Raises once global step `step` is done, before the backup callback sees it."""

    def __init__(self, step):
        super().__init__()
        self.step = step

    def on_train_batch_end(self, batch, logs=None):
        if iterations(self.model) >= self.step:
            raise KeyboardInterrupt(f"simulated crash at step {self.step}")


class RunTest(TestCase):
    def test_exact_steps_then_rerun_restores_without_training(self):
        workdir = new_workdir(self)
        trainer = toy.trainer_config(steps=10, eval_every=4)
        task, history, lines = run_toy(workdir, trainer)
        self.assertEqual(10, iterations(task))  # the last epoch is cut to 2 steps
        self.assertLen(history.history["val_loss"], 3)
        self.assertIn("from step 0 (no backup yet", lines[0])
        weights = [w.numpy() for w in task.trainable_variables]

        record = _Record()
        rerun, history, lines = run_toy(workdir, trainer, callbacks=[record])
        self.assertIn("Already finished at step 10", lines[0])
        self.assertEqual([], record.values)
        self.assertEqual({}, history.history)
        self.assertEqual(10, iterations(rerun))
        for expected, actual in zip(weights, rerun.trainable_variables):
            self.assertAllClose(expected, actual)

    def test_resume_after_sigkill(self):
        workdir = new_workdir(self)
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.training.subprocess_main", "killed_run", workdir],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        deadline = threading.Timer(240, process.kill)
        deadline.start()
        try:
            for line in process.stdout:
                if line.strip() == "READY":  # step 5 done; backups at steps 2 and 4
                    break
            else:
                self.fail("the training subprocess ended without reaching step 5")
        finally:
            deadline.cancel()
            process.send_signal(signal.SIGKILL)
            process.wait()
        self.assertEqual(4, restored_step(os.path.join(workdir, "backup")))

        record = _Record()
        task, history, lines = run_toy(
            workdir, subprocess_main.resume_trainer(), callbacks=[record]
        )
        self.assertIn("Resuming from step 4 of 8", lines[0])
        self.assertEqual([4, 5, 6, 7], record.values)  # mid-epoch: batches 4..7 of epoch 0
        self.assertEqual(8, iterations(task))
        self.assertLen(history.history["loss"], 1)

    def test_resume_with_steps_per_execution(self):
        workdir = new_workdir(self)
        trainer = toy.trainer_config(steps=8, eval_every=8, checkpoint_every=2, log_every=2)
        runtime = toy.runtime_config(steps_per_execution=2)
        with self.assertRaises(KeyboardInterrupt):
            run_toy(workdir, trainer, runtime, callbacks=[_CrashAt(6)])
        self.assertEqual(4, restored_step(os.path.join(workdir, "backup")))
        task, _, lines = run_toy(workdir, trainer, runtime)
        self.assertIn("Resuming from step 4", lines[0])
        self.assertEqual(8, iterations(task))  # no step of the interrupted execution repeated

    def test_non_finite_loss_stops_before_the_backup(self):
        workdir = new_workdir(self)
        with self.assertRaisesRegex(NonFiniteLossError, r"at step 4: loss=nan, mse_loss=nan"):
            run_toy(workdir, build_task=lambda: toy.RegressionTask(nan_at_step=4))
        # Step 4 would have been backed up (checkpoint_every=2): the last backup is step 2.
        backup = os.path.join(workdir, "backup")
        self.assertEqual(2, restored_step(backup))
        checkpoint = tf.train.latest_checkpoint(os.path.join(backup, "chief"))
        kernels = [name for name, _ in tf.train.list_variables(checkpoint) if "kernel" in name]
        self.assertNotEmpty(kernels)
        for name in kernels:
            self.assertTrue(np.all(np.isfinite(tf.train.load_variable(checkpoint, name))))

    def test_early_stopping_then_rerun_restores_without_training(self):
        workdir = new_workdir(self)
        trainer = toy.trainer_config(steps=16, eval_every=4, early_stopping_patience=1)
        build_task = lambda: toy.RegressionTask(worsening_validation=True)
        task, history, _ = run_toy(workdir, trainer, build_task=build_task)
        self.assertLen(history.history["val_loss"], 2)  # epoch 2 is worse than epoch 1
        self.assertEqual(8, iterations(task))
        record = _Record()
        task, _, lines = run_toy(workdir, trainer, build_task=build_task, callbacks=[record])
        self.assertIn("Already finished at step 8", lines[0])
        self.assertEqual([], record.values)
        self.assertEqual(8, iterations(task))

    def test_tensorboard_scalars_per_step(self):
        workdir = new_workdir(self)
        trainer = toy.trainer_config(steps=6, eval_every=6, log_every=2, warmup_steps=2)
        run_toy(workdir, trainer)
        train = scalars(os.path.join(workdir, "tensorboard", "train"))
        for tag in ("batch_loss", "batch_mse_loss", "batch_grad_norm", "batch_learning_rate"):
            self.assertEqual([2, 4, 6], [step for step, _ in train[tag]], tag)
        schedule = WarmupDecay(trainer.learning_rate, 2, 6, trainer.decay)
        # The rate logged at step s (1-based) is the one its update used: schedule(s - 1).
        expected = [float(schedule(step - 1)) for step in (2, 4, 6)]
        self.assertAllClose(expected, [value for _, value in train["batch_learning_rate"]])
        self.assertTrue(all(v > 0 for _, v in train["batch_grad_norm"]))
        throughput = train["throughput/examples_per_second"]
        self.assertNotEmpty(throughput)
        self.assertTrue(all(value > 0 for _, value in throughput))
        validation = scalars(os.path.join(workdir, "tensorboard", "validation"))
        self.assertIn("epoch_loss", validation)

    def test_batch_size_ramp_up(self):
        trainer = toy.trainer_config(steps=6, batch_ramp_up_steps=3, initial_batch_size=4)
        record = _Record("batch_size")
        run_toy(
            new_workdir(self),
            trainer,
            build_task=lambda: toy.RegressionTask(report_batch_size=True),
            callbacks=[record],
        )
        self.assertEqual([4, 4, 4, 8, 8, 8], record.values)

    def test_mixed_precision(self):
        for precision in (Precision.MIXED_FLOAT16, Precision.MIXED_BFLOAT16):
            with self.subTest(precision=precision.value):
                keras.backend.clear_session()
                task, history, _ = run_toy(
                    new_workdir(self),
                    toy.trainer_config(steps=4, eval_every=4),
                    toy.runtime_config(precision=precision),
                )
                self.assertEqual(precision.value, task.dense.dtype_policy.name)
                loss_scaled = isinstance(task.optimizer, keras.mixed_precision.LossScaleOptimizer)
                self.assertEqual(precision == Precision.MIXED_FLOAT16, loss_scaled)
                self.assertEqual(4, iterations(task))
                self.assertTrue(np.isfinite(history.history["loss"]).all())
                self.assertTrue(np.isfinite(history.history["grad_norm"]).all())
                self.assertEqual("float32", keras.mixed_precision.global_policy().name)

    def test_jit_compile(self):
        runtime = toy.runtime_config(jit_compile=True, steps_per_execution=2)
        trainer = toy.trainer_config(steps=4, eval_every=4, log_every=2, accumulation_steps=2)
        task, history, _ = run_toy(new_workdir(self), trainer, runtime)
        self.assertEqual(4, iterations(task))
        self.assertEqual(2, task.accumulation_steps)  # the trainer config is applied
        self.assertTrue(np.isfinite(history.history["loss"]).all())

    def test_recompute_blocks(self):
        histories = []
        for recompute in (False, True):
            keras.backend.clear_session()
            task, history, lines = run_toy(
                new_workdir(self),
                toy.trainer_config(steps=4, eval_every=4),
                toy.runtime_config(recompute_blocks=recompute),
                build_task=toy.BlockRegressionTask,
            )
            self.assertEqual(recompute, task.block.recompute)
            histories.append(history.history["loss"])
        self.assertIn(
            "runtime.recompute_blocks: 1 Transformer blocks recompute in backward.", lines
        )
        self.assertAllClose(histories[0], histories[1], rtol=1e-5)

    def test_rejects_inconsistent_configs(self):
        runtime = toy.runtime_config(steps_per_execution=3)
        with self.assertRaisesRegex(ValueError, "multiple of runtime.steps_per_execution=3"):
            run_toy(new_workdir(self), toy.trainer_config(), runtime)
        trainer = toy.trainer_config(batch_ramp_up_steps=2)
        with self.assertRaisesRegex(ValueError, "initial_batch_size"):
            run_toy(new_workdir(self), trainer)


def run_subprocess(mode, workdir):
    result = subprocess.run(
        [sys.executable, "-m", "tests.training.subprocess_main", mode, workdir],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    if result.returncode or not lines:
        raise AssertionError(f"{mode} failed:\n{result.stdout}\n{result.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT ") :])


class DistributedTest(TestCase):
    def test_mirrored_matches_default_strategy(self):
        result = run_subprocess("mirrored", new_workdir(self))
        self.assertEqual(2, result["replicas"])
        # 2 replicas x 2 micro-batches of 2 examples vs one batch of 8, with clipping.
        for expected, actual in zip(result["default"], result["mirrored"]):
            self.assertAllClose(expected, actual, atol=1e-6)
        default, mirrored = result["default_history"], result["mirrored_history"]
        for name in ("loss", "mse_loss", "grad_norm", "learning_rate", "val_loss"):
            self.assertAllClose(default[name], mirrored[name], rtol=1e-5)

    def test_multi_worker_mirrored_matches_default_strategy(self):
        workdir = new_workdir(self)
        ports = ",".join(str(port) for port in subprocess_main._free_ports(2))
        command = [sys.executable, "-m", "tests.training.subprocess_main", "multi_worker"]
        workers = [
            subprocess.Popen(
                [*command, workdir, str(index), ports],
                cwd=REPO,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for index in range(2)
        ]
        outputs = [worker.communicate(timeout=300) for worker in workers]
        results = []
        for worker, (stdout, stderr) in zip(workers, outputs):
            lines = [line for line in stdout.splitlines() if line.startswith("RESULT ")]
            if worker.returncode or not lines:
                raise AssertionError(f"worker failed:\n{stdout}\n{stderr[-3000:]}")
            results.append(json.loads(lines[-1][len("RESULT ") :]))
        task, history, _ = run_toy(new_workdir(self), subprocess_main.multi_worker_trainer())
        expected = [v.numpy().ravel() for v in task.trainable_variables]
        for result in results:  # each worker fed half of every global batch of 8
            for want, got in zip(expected, result["weights"]):
                self.assertAllClose(want, got, atol=1e-6)
            # Logged once, not summed over the two workers.
            for name in ("loss", "grad_norm", "learning_rate", "val_loss"):
                self.assertAllClose(history.history[name], result["history"][name], rtol=1e-5)

    def test_parameter_server_strategy(self):
        result = run_subprocess("parameter_server", new_workdir(self))
        self.assertEqual("ParameterServerStrategyV2", result["strategy"])
        self.assertEqual(12, result["iterations"])
        losses = result["history"]["loss"]
        self.assertLen(losses, 3)
        self.assertLess(losses[-1], 0.5 * losses[0])
        self.assertLess(result["history"]["val_loss"][-1], result["history"]["val_loss"][0])
