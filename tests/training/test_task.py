import numpy as np

from mmlm.backend import keras, tf
from mmlm.testing import TestCase
from mmlm.training import Task, WarmupDecay
from tests.training import toy

INITIAL_KERNEL = np.array([[0.3], [0.1], [-0.2]], np.float32)
INITIAL_BIAS = 0.4
L2_WEIGHT = 0.1


def numpy_gradients(batch):
    """Gradients of mse + L2_WEIGHT * |kernel|^2 at the initial weights."""
    x, y = batch["x"].astype(np.float64), batch["y"].astype(np.float64)
    error = (x @ INITIAL_KERNEL)[:, 0] + INITIAL_BIAS - y
    kernel = 2 * x.T @ error[:, None] / len(y) + 2 * L2_WEIGHT * INITIAL_KERNEL
    bias = np.array([2 * error.mean()])
    return kernel, bias


def make_task(**kwargs):
    task = toy.RegressionTask(loss_weights={"mse": 1.0, "l2": L2_WEIGHT}, **kwargs)
    task(toy.examples("train", 2))  # build, then start from known weights
    task.dense.kernel.assign(INITIAL_KERNEL)
    task.dense.bias.assign([INITIAL_BIAS])
    return task


def fit_one_step(task, batch, optimizer=None):
    task.compile(optimizer=optimizer or keras.optimizers.SGD(1.0))
    data = tf.data.Dataset.from_tensors(batch)
    return task.fit(data, epochs=1, steps_per_epoch=1, verbose=0).history


class TrainStepTest(TestCase):
    def test_gradient_step_matches_numpy(self):
        batch = toy.examples("train", 8)
        task = make_task()
        history = fit_one_step(task, batch)
        kernel_grad, bias_grad = numpy_gradients(batch)
        self.assertAllClose(INITIAL_KERNEL - kernel_grad, task.dense.kernel, atol=1e-5)
        self.assertAllClose([INITIAL_BIAS] - bias_grad, task.dense.bias, atol=1e-5)
        norm = np.sqrt(np.sum(kernel_grad**2) + np.sum(bias_grad**2))
        self.assertAllClose(norm, history["grad_norm"][0], rtol=1e-5)

    def test_clip_by_global_norm_matches_numpy(self):
        batch = toy.examples("train", 8)
        task = make_task(clip_global_norm=0.5)
        history = fit_one_step(task, batch)
        kernel_grad, bias_grad = numpy_gradients(batch)
        norm = np.sqrt(np.sum(kernel_grad**2) + np.sum(bias_grad**2))
        self.assertGreater(norm, 0.5)
        scale = 0.5 / norm
        self.assertAllClose(INITIAL_KERNEL - scale * kernel_grad, task.dense.kernel, atol=1e-5)
        self.assertAllClose([INITIAL_BIAS] - scale * bias_grad, task.dense.bias, atol=1e-5)
        # The logged norm is the norm before clipping.
        self.assertAllClose(norm, history["grad_norm"][0], rtol=1e-5)

    def test_accumulation_matches_one_step_on_the_whole_batch(self):
        batch = toy.examples("train", 8)
        whole = make_task()
        whole_history = fit_one_step(whole, batch)
        accumulated = make_task(accumulation_steps=2)
        accumulated_history = fit_one_step(accumulated, batch)
        for expected, actual in zip(whole.trainable_variables, accumulated.trainable_variables):
            self.assertAllClose(expected, actual, atol=1e-6)
        for name in ("loss", "mse_loss", "l2_loss", "grad_norm"):
            self.assertAllClose(whole_history[name], accumulated_history[name], rtol=1e-5)

    def test_accumulation_needs_a_divisible_batch(self):
        task = make_task(accumulation_steps=3)
        with self.assertRaisesRegex(ValueError, "not divisible by accumulation_steps=3"):
            fit_one_step(task, toy.examples("train", 8))

    def test_logs(self):
        task = toy.RegressionTask(loss_weights={"mse": 1.0, "l2": 0.0}, temperature=True)
        schedule = WarmupDecay(0.1, warmup_steps=4, total_steps=10, decay="linear")
        data = tf.data.Dataset.from_tensor_slices(toy.examples("train", 24)).batch(8)
        task.compile(optimizer=keras.optimizers.Adam(schedule))
        history = task.fit(data, epochs=1, verbose=0).history
        # The zero-weight l2 term is neither computed nor logged.
        self.assertEqual(
            ["loss", "mse_loss", "grad_norm", "learning_rate", "temperature"], list(history)
        )
        self.assertEqual(history["loss"], history["mse_loss"])
        # Current values: the rate of the last step (step 2) and the temperature after it.
        self.assertAllClose(0.1 * 2 / 4, history["learning_rate"][0])
        self.assertAllClose(task.temperature.numpy(), history["temperature"][0])

    def test_evaluate_reports_the_losses(self):
        batch = toy.examples("validation", 16)
        task = make_task()
        task.compile(optimizer=keras.optimizers.SGD(0.1))
        logs = task.evaluate(tf.data.Dataset.from_tensors(batch), return_dict=True, verbose=0)
        self.assertEqual({"loss", "mse_loss", "l2_loss"}, set(logs))
        error = (batch["x"] @ INITIAL_KERNEL)[:, 0] + INITIAL_BIAS - batch["y"]
        l2 = np.sum(INITIAL_KERNEL**2)
        self.assertAllClose(np.mean(error**2), logs["mse_loss"], rtol=1e-5)
        self.assertAllClose(np.mean(error**2) + L2_WEIGHT * l2, logs["loss"], rtol=1e-5)


class _Losses(Task):
    def __init__(self, losses, **kwargs):
        super().__init__(loss_weights={"a": 1.0}, **kwargs)
        self.losses_fn = losses
        self.dense = keras.layers.Dense(1, name="dense")

    def compute_losses(self, batch, training):
        return self.losses_fn(tf.reduce_mean(self.dense(batch["x"])))


class LossContractTest(TestCase):
    def check_rejected(self, losses, pattern):
        task = _Losses(losses)
        task.compile(optimizer=keras.optimizers.SGD(0.1))
        data = tf.data.Dataset.from_tensors(toy.examples("train", 4))
        with self.assertRaisesRegex(ValueError, pattern):
            task.fit(data, epochs=1, verbose=0)

    def test_unknown_term(self):
        self.check_rejected(lambda v: {"a": v, "b": v}, r"terms \['b'\] that have no weight")

    def test_missing_term(self):
        self.check_rejected(lambda v: {}, r"did not return the weighted terms \['a'\]")

    def test_non_scalar_term(self):
        self.check_rejected(lambda v: {"a": tf.fill([3], v)}, "must be a scalar")

    def test_constructor_checks(self):
        with self.assertRaisesRegex(ValueError, "non-zero weight"):
            Task(loss_weights={"a": 0.0})
        with self.assertRaisesRegex(ValueError, "accumulation_steps"):
            Task(loss_weights={"a": 1.0}, accumulation_steps=0)
