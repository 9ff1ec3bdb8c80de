import numpy as np

from mmlm.backend import keras, tf
from mmlm.config import Decay, TrainerConfig
from mmlm.testing import TestCase
from mmlm.training import EXPONENTIAL_FLOOR, NO_WEIGHT_DECAY, WarmupDecay, make_optimizer


def reference(step, peak, warmup, total, decay, final_ratio):
    """The schedule in NumPy, straight from its definition."""
    step = np.asarray(step, np.float64)
    progress = np.clip((step - warmup) / max(total - warmup, 1), 0.0, 1.0)
    final = peak * final_ratio
    decayed = {
        "cosine": final + (peak - final) * 0.5 * (1 + np.cos(np.pi * progress)),
        "linear": peak + (final - peak) * progress,
        "exponential": peak * max(final_ratio, 1e-3) ** progress,
        "constant": np.full_like(progress, peak),
    }[decay]
    if warmup == 0:
        return decayed
    return np.where(step < warmup, peak * step / warmup, decayed)


class WarmupDecayTest(TestCase):
    def test_matches_numpy(self):
        steps = np.arange(0, 130)
        for decay in Decay:
            for final_ratio in (0.0, 0.1):
                schedule = WarmupDecay(2e-3, 10, 100, decay, final_ratio)
                expected = reference(steps, 2e-3, 10, 100, decay.value, final_ratio)
                actual = schedule(tf.constant(steps, tf.int64)).numpy()
                self.assertAllClose(expected, actual, rtol=1e-5, atol=1e-9, msg=decay.value)

    def test_shape_of_the_curve(self):
        schedule = WarmupDecay(1.0, 4, 20, "cosine", 0.1)
        self.assertAllClose(0.0, schedule(0))
        self.assertAllClose(0.5, schedule(2))
        self.assertAllClose(1.0, schedule(4))
        self.assertAllClose(0.1, schedule(20))
        self.assertAllClose(0.1, schedule(1000))  # stays at the end value

    def test_no_warmup_starts_at_peak(self):
        for decay in Decay:
            self.assertAllClose(3.0, WarmupDecay(3.0, 0, 10, decay)(0))

    def test_exponential_final_ratio_zero_uses_floor(self):
        schedule = WarmupDecay(1.0, 0, 10, Decay.EXPONENTIAL, 0.0)
        self.assertAllClose(EXPONENTIAL_FLOOR, schedule(10))
        self.assertAllClose(EXPONENTIAL_FLOOR**0.5, schedule(5))

    def test_serialization_round_trip(self):
        schedule = WarmupDecay(1e-3, 5, 50, Decay.LINEAR, 0.2, name="lr")
        config = schedule.get_config()
        self.assertEqual("linear", config["decay"])  # the enum is stored by value
        revived = keras.saving.deserialize_keras_object(
            keras.saving.serialize_keras_object(schedule)
        )
        self.assertIsInstance(revived, WarmupDecay)
        self.assertEqual(config, revived.get_config())
        steps = tf.range(60)
        self.assertAllClose(schedule(steps), revived(steps))

    def test_rejects_invalid_arguments(self):
        with self.assertRaisesRegex(ValueError, "warmup_steps"):
            WarmupDecay(1e-3, 20, 10)
        with self.assertRaisesRegex(ValueError, "final_ratio"):
            WarmupDecay(1e-3, 0, 10, final_ratio=2.0)
        with self.assertRaises(ValueError):
            WarmupDecay(1e-3, 0, 10, decay="step")


class MakeOptimizerTest(TestCase):
    def test_adamw_with_schedule(self):
        trainer = TrainerConfig(steps=100, learning_rate=3e-4, warmup_steps=10, weight_decay=0.1)
        optimizer = make_optimizer(trainer)
        self.assertIsInstance(optimizer, keras.optimizers.AdamW)
        self.assertAllClose(0.98, optimizer.beta_2)
        self.assertAllClose(1e-6, optimizer.epsilon)
        schedule = optimizer._learning_rate
        self.assertIsInstance(schedule, WarmupDecay)
        self.assertEqual(
            (3e-4, 10, 100),
            (schedule.peak_learning_rate, schedule.warmup_steps, schedule.total_steps),
        )

    def test_weight_decay_skips_excluded_names(self):
        optimizer = make_optimizer(
            TrainerConfig(learning_rate=0.1, warmup_steps=0, weight_decay=0.5)
        )
        names = ["dense/kernel", *(f"layer/{n}" for n in NO_WEIGHT_DECAY)]
        variables = [tf.Variable(np.ones(2, np.float32), name=name) for name in names]
        # Zero gradients: Adam moves nothing, so only the decoupled weight decay acts.
        optimizer.apply_gradients([(tf.zeros(2), v) for v in variables])
        self.assertAllClose([1 - 0.1 * 0.5] * 2, variables[0])
        for variable in variables[1:]:
            self.assertAllClose([1.0, 1.0], variable, msg=variable.name)
