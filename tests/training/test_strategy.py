import json
import os
from unittest import mock

from mmlm.backend import keras, tf
from mmlm.config import Precision, RuntimeConfig, Strategy
from mmlm.testing import TestCase
from mmlm.training import is_chief, make_strategy, precision_scope, set_precision, split_cpu


def tf_config(task_type, index=0, chief=False):
    cluster = {"worker": ["w0:1", "w1:1"], "ps": ["p0:1"]}
    if chief:
        cluster["chief"] = ["c0:1"]
    return {
        "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": task_type, "index": index}})
    }


class StrategyTest(TestCase):
    def test_default(self):
        self.assertIs(tf.distribute.get_strategy(), make_strategy(RuntimeConfig()))

    def test_cluster_strategies_need_tf_config(self):
        with mock.patch.dict(os.environ, {"TF_CONFIG": ""}):
            for strategy in (Strategy.MULTI_WORKER_MIRRORED, Strategy.PARAMETER_SERVER):
                with self.assertRaisesRegex(RuntimeError, "TF_CONFIG"):
                    make_strategy(RuntimeConfig(strategy=strategy))

    def test_split_cpu_after_the_runtime_started(self):
        started = len(tf.config.list_logical_devices("CPU"))  # starts the runtime
        self.assertEqual(started, len(split_cpu(started)))  # the same split is fine
        with self.assertRaisesRegex(RuntimeError, "already started with"):
            split_cpu(started + 2)

    def test_is_chief(self):
        cases = [
            ({"TF_CONFIG": ""}, True),
            (tf_config("chief", chief=True), True),
            (tf_config("worker", 0, chief=True), False),
            (tf_config("worker", 0), True),
            (tf_config("worker", 1), False),
            (tf_config("ps"), False),
        ]
        for environment, expected in cases:
            with mock.patch.dict(os.environ, environment):
                self.assertEqual(expected, is_chief(), environment)


class PrecisionTest(TestCase):
    def test_set_and_restore(self):
        self.assertEqual("float32", keras.mixed_precision.global_policy().name)
        previous = set_precision(RuntimeConfig(precision=Precision.MIXED_BFLOAT16))
        try:
            self.assertEqual("mixed_bfloat16", keras.mixed_precision.global_policy().name)
        finally:
            keras.mixed_precision.set_global_policy(previous)
        self.assertEqual("float32", keras.mixed_precision.global_policy().name)

    def test_scope_restores_on_error(self):
        mixed = RuntimeConfig(precision=Precision.MIXED_FLOAT16)
        with self.assertRaises(KeyError), precision_scope(mixed):
            self.assertEqual("mixed_float16", keras.mixed_precision.global_policy().name)
            raise KeyError("boom")
        self.assertEqual("float32", keras.mixed_precision.global_policy().name)
