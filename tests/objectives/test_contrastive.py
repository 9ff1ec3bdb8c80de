"""Tests for the contrastive objectives against a NumPy InfoNCE written from the definition."""

import functools
import json
import pathlib
import subprocess
import sys

import numpy as np

from mmlm.backend import tf
from mmlm.objectives import PAIRS, contrastive_loss, pairwise_contrastive_losses
from mmlm.testing import TestCase

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]


def normalized(rng, shape):
    x = rng.standard_normal(shape)
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def numpy_cross_entropy_terms(a, b, scale, valid):
    """CE(a -> b) of the valid rows and d(CE)/d(logits), absent candidates removed."""
    logits = scale * a[valid].astype(np.float64) @ b[valid].astype(np.float64).T  # (V, V)
    peak = logits.max(axis=1, keepdims=True)
    exp = np.exp(logits - peak)
    log_sum_exp = peak[:, 0] + np.log(exp.sum(axis=1))
    softmax = exp / exp.sum(axis=1, keepdims=True)
    return log_sum_exp - np.diag(logits), softmax - np.eye(len(logits))


def numpy_contrastive(a, b, scale, valid=None):
    """(loss, dloss/da, dloss/db) of the symmetric InfoNCE over valid rows, float64."""
    valid = np.ones(len(a), bool) if valid is None else np.asarray(valid, bool)
    grad_a, grad_b = np.zeros_like(a, np.float64), np.zeros_like(b, np.float64)
    if not valid.any():
        return 0.0, grad_a, grad_b
    ce_ab, g_ab = numpy_cross_entropy_terms(a, b, scale, valid)
    ce_ba, g_ba = numpy_cross_entropy_terms(b, a, scale, valid)
    count = valid.sum()
    loss = 0.5 * np.sum(ce_ab + ce_ba) / count
    g_ab, g_ba = 0.5 * g_ab / count, 0.5 * g_ba / count  # d(loss)/d(logits)
    a_valid, b_valid = a[valid].astype(np.float64), b[valid].astype(np.float64)
    grad_a[valid] = scale * (g_ab @ b_valid + g_ba.T @ b_valid)
    grad_b[valid] = scale * (g_ab.T @ a_valid + g_ba @ a_valid)
    return loss, grad_a, grad_b


def numpy_contrastive_with_negatives(a, b, scale, valid, negatives_a=None, negatives_b=None):
    """The symmetric InfoNCE loss written per query, with hard negatives as extra candidates.

    negatives_x: (embeddings, valid) of extra candidates in modality x, or None.
    """
    a, b = np.float64(a), np.float64(b)

    def direction(queries, candidates, negatives):
        pool = [candidates[j] for j in range(len(candidates)) if valid[j]]
        if negatives is not None:
            pool += [row for row, ok in zip(np.float64(negatives[0]), negatives[1]) if ok]
        pool = np.array(pool)
        losses = []
        for i in np.flatnonzero(valid):
            logits = scale * pool @ queries[i]
            positive = scale * candidates[i] @ queries[i]
            losses.append(np.log(np.exp(logits - logits.max()).sum()) + logits.max() - positive)
        return np.array(losses)

    per_row = 0.5 * (direction(a, b, negatives_b) + direction(b, a, negatives_a))
    return per_row.mean()


def loss_and_gradients(a, b, scale, valid=None):
    a, b = tf.constant(a), tf.constant(b)
    with tf.GradientTape() as tape:
        tape.watch([a, b])
        loss = contrastive_loss(a, b, scale, valid)
    return loss, tape.gradient(loss, [a, b])


# Runs in a fresh interpreter: logical devices must be set before TensorFlow initializes (and
# pytest-xdist or an earlier test may have initialized it in this process).
DISTRIBUTED_SCRIPT = """
import json, sys
import numpy as np
from mmlm.backend import tf
from mmlm.objectives import contrastive_loss, sigmoid_contrastive_loss

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
data = json.load(sys.stdin)
x_a, x_b, scale = np.float32(data["x_a"]), np.float32(data["x_b"]), data["scale"]
LOSSES = {
    "infonce": lambda a, b, valid, **kw: contrastive_loss(a, b, scale, valid, **kw),
    "sigmoid": lambda a, b, valid, **kw: sigmoid_contrastive_loss(
        a, b, scale, data["bias"], valid, **kw
    ),
}
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
    kernel_a = tf.Variable(np.float32(data["kernel_a"]))
    kernel_b = tf.Variable(np.float32(data["kernel_b"]))


def step(x_a, x_b, valid, negatives_valid=None, loss="infonce"):
    with tf.GradientTape() as tape:
        tape.watch([x_a, x_b])
        a = tf.math.l2_normalize(tf.matmul(x_a, kernel_a), axis=-1)
        b = tf.math.l2_normalize(tf.matmul(x_b, kernel_b), axis=-1)
        # Hard negatives of modality a: its rows reversed in order, as different candidates.
        negatives = None if negatives_valid is None else (a[::-1], negatives_valid)
        value = LOSSES[loss](a, b, valid, negatives_a=negatives)
    return value, tape.gradient(value, [kernel_a, kernel_b, x_a, x_b])


def run_case(valid, split, negatives_valid=None, loss="infonce"):
    valid = np.array(valid)
    with_negatives = negatives_valid is not None
    negatives_valid = np.array(negatives_valid if with_negatives else valid)

    def shard(context):
        rows = slice(0, split) if context.replica_id_in_sync_group == 0 else slice(split, None)
        tensors = [tf.constant(x[rows]) for x in (x_a, x_b, valid, negatives_valid)]
        return tensors if with_negatives else tensors[:3]

    full = [tf.constant(x) for x in (x_a, x_b, valid, negatives_valid)]
    full_loss, full_grads = step(*(full if with_negatives else full[:3]), loss=loss)
    per_replica = strategy.run(
        tf.function(lambda *tensors: step(*tensors, loss=loss)),
        args=strategy.experimental_distribute_values_from_function(shard),
    )
    losses, grads = tf.nest.map_structure(strategy.experimental_local_results, per_replica)
    return {
        "full_loss": float(full_loss),
        "full_grads": [g.numpy().tolist() for g in full_grads],
        "replica_losses": [float(l) for l in losses],
        "kernel_grads": [[g.numpy().tolist() for g in grads[i]] for i in range(2)],
        "input_grads": [[g.numpy().tolist() for g in grads[i]] for i in (2, 3)],
    }


results = [run_case(**case) for case in data["cases"]]
print(json.dumps({"num_replicas": strategy.num_replicas_in_sync, "cases": results}))
"""
DISTRIBUTED_INPUTS = {
    "x_a": np.random.default_rng(6).standard_normal((8, 6)).tolist(),
    "x_b": np.random.default_rng(7).standard_normal((8, 5)).tolist(),
    "kernel_a": np.random.default_rng(8).standard_normal((6, 4)).tolist(),
    "kernel_b": np.random.default_rng(9).standard_normal((5, 4)).tolist(),
    "scale": 4.0,
    "bias": -2.0,
    "cases": [
        # 3 valid rows on each replica of 4, so the mean of replica means is the global mean.
        {"valid": [True, True, False, True, True, True, False, True], "split": 4},
        # A final partial batch split 5 + 3: the positives' offset must follow the real sizes.
        {"valid": [True] * 8, "split": 5},
        # Hard negatives are gathered from every replica like the rows.
        {
            "valid": [True, True, False, True, True, True, True, True],
            "split": 4,
            "negatives_valid": [True, False, True, True, True, True, False, True],
        },
        # The sigmoid loss (tests/objectives/test_sigmoid_contrastive.py): 3 + 2 valid rows,
        # an uneven split, hard negatives.
        {
            "valid": [True, True, False, True, True, False, False, True],
            "split": 4,
            "loss": "sigmoid",
        },
        {"valid": [True] * 8, "split": 5, "loss": "sigmoid"},
        {
            "valid": [True, True, False, True, True, True, True, True],
            "split": 4,
            "negatives_valid": [True, False, True, True, True, True, False, True],
            "loss": "sigmoid",
        },
    ],
}


@functools.lru_cache(maxsize=1)
def distributed_results():
    """DISTRIBUTED_SCRIPT's JSON output for DISTRIBUTED_INPUTS (one subprocess for all tests)."""
    process = subprocess.run(
        [sys.executable, "-c", DISTRIBUTED_SCRIPT],
        check=False,
        input=json.dumps(DISTRIBUTED_INPUTS),
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=300,
    )
    if process.returncode:
        raise AssertionError(f"Distributed script failed:\n{process.stderr[-3000:]}")
    return json.loads(process.stdout.strip().splitlines()[-1])


class ContrastiveLossTest(TestCase):
    def test_matches_numpy(self):
        rng = np.random.default_rng(0)
        a, b = normalized(rng, (7, 5)), normalized(rng, (7, 5))
        for valid in (None, np.array([1, 1, 0, 1, 0, 1, 1], bool)):
            with self.subTest(valid=valid):
                expected, grad_a, grad_b = numpy_contrastive(a, b, 10.0, valid)
                loss, (actual_a, actual_b) = loss_and_gradients(a, b, 10.0, valid)
                self.assertEqual(loss.dtype, tf.float32)
                self.assertEqual(loss.shape, ())
                self.assertAllClose(expected, loss, atol=1e-5)
                self.assertAllClose(grad_a, actual_a, atol=1e-5)
                self.assertAllClose(grad_b, actual_b, atol=1e-5)

    def test_invalid_rows_are_neither_queries_nor_candidates(self):
        rng = np.random.default_rng(1)
        a, b = normalized(rng, (6, 4)), normalized(rng, (6, 4))
        valid = np.array([0, 1, 1, 0, 1, 1], bool)
        # Changing invalid rows changes nothing.
        noisy_b = np.where(valid[:, None], b, normalized(rng, (6, 4)))
        self.assertAllClose(
            contrastive_loss(a[valid], b[valid], 20.0),
            contrastive_loss(a, noisy_b, 20.0, tf.constant(valid)),
            atol=1e-6,
        )

    def test_all_invalid_is_zero_with_finite_gradients(self):
        rng = np.random.default_rng(2)
        a, b = normalized(rng, (3, 4)), normalized(rng, (3, 4))
        loss, grads = loss_and_gradients(a, b, 100.0, np.zeros(3, bool))
        self.assertEqual(float(loss), 0.0)
        for grad in grads:
            self.assertAllEqual(np.zeros((3, 4)), grad)

    def test_bfloat16_inputs(self):
        rng = np.random.default_rng(3)
        a, b = normalized(rng, (5, 8)), normalized(rng, (5, 8))
        a16, b16 = tf.cast(a, tf.bfloat16), tf.cast(b, tf.bfloat16)
        loss = contrastive_loss(a16, b16, tf.constant(30.0, tf.bfloat16), [1, 1, 0, 1, 1])
        self.assertEqual(loss.dtype, tf.float32)
        valid = np.array([1, 1, 0, 1, 1], bool)
        expected, _, _ = numpy_contrastive(
            tf.cast(a16, tf.float32).numpy(), tf.cast(b16, tf.float32).numpy(), 30.0, valid
        )
        self.assertAllClose(expected, loss, atol=1e-4)
        with tf.GradientTape() as tape:
            tape.watch([a16, b16])
            loss = contrastive_loss(a16, b16, 30.0)
        for grad in tape.gradient(loss, [a16, b16]):
            self.assertTrue(np.isfinite(tf.cast(grad, tf.float32).numpy()).all())

    def test_graph_mode_with_unknown_batch(self):
        rng = np.random.default_rng(4)
        a, b = normalized(rng, (6, 3)), normalized(rng, (6, 3))
        valid = np.array([1, 0, 1, 1, 1, 0], bool)
        spec = tf.TensorSpec([None, 3], tf.float32)
        graph_loss = tf.function(
            contrastive_loss,
            input_signature=[spec, spec, tf.TensorSpec([]), tf.TensorSpec([None], tf.bool)],
        )
        self.assertAllClose(
            numpy_contrastive(a, b, 5.0, valid)[0], graph_loss(a, b, 5.0, valid), atol=1e-5
        )

    def test_hard_negatives_match_numpy(self):
        rng = np.random.default_rng(10)
        a, b = normalized(rng, (5, 4)), normalized(rng, (5, 4))
        valid = np.array([1, 1, 0, 1, 1], bool)
        negatives = normalized(rng, (5, 4)), np.array([1, 0, 1, 1, 1], bool)
        for side in ("a", "b"):
            with self.subTest(side=side):
                kwargs = {f"negatives_{side}": negatives}
                expected = numpy_contrastive_with_negatives(a, b, 8.0, valid, **kwargs)
                loss = contrastive_loss(a, b, 8.0, valid, **kwargs)
                self.assertAllClose(expected, loss, atol=1e-5)
                self.assertGreater(float(loss), numpy_contrastive(a, b, 8.0, valid)[0])
        # The reference without negatives is the plain InfoNCE (checks the reference itself).
        self.assertAllClose(
            numpy_contrastive(a, b, 8.0, valid)[0],
            numpy_contrastive_with_negatives(a, b, 8.0, valid),
            atol=1e-9,
        )

    def test_hard_negative_gradients_match_finite_differences(self):
        rng = np.random.default_rng(11)
        a, b = normalized(rng, (4, 3)), normalized(rng, (4, 3))
        valid = np.array([1, 1, 1, 0], bool)
        negatives, negatives_valid = normalized(rng, (4, 3)), np.array([1, 1, 0, 1], bool)
        tensors = [tf.constant(x, tf.float64) for x in (a, b, negatives)]
        with tf.GradientTape() as tape:
            tape.watch(tensors)
            loss = contrastive_loss(
                *tensors[:2], 6.0, valid, negatives_a=(tensors[2], negatives_valid)
            )
        gradients = tape.gradient(loss, tensors)

        def reference(x, which):
            inputs = [a, b, negatives]
            inputs[which] = x
            return numpy_contrastive_with_negatives(
                inputs[0], inputs[1], 6.0, valid, negatives_a=(inputs[2], negatives_valid)
            )

        for which, gradient in enumerate(gradients):
            x = [a, b, negatives][which].astype(np.float64)
            numeric = np.zeros_like(x)
            for index in np.ndindex(x.shape):
                step = np.zeros_like(x)
                step[index] = 1e-6
                numeric[index] = (reference(x + step, which) - reference(x - step, which)) / 2e-6
            self.assertAllClose(numeric, gradient, atol=2e-5)
        # Invalid negatives get no gradient.
        self.assertAllEqual(np.zeros(3), gradients[2][2])

    def test_pairwise_losses(self):
        rng = np.random.default_rng(5)
        embeddings = {name: normalized(rng, (6, 4)) for name in ("audio", "image", "text")}
        present = {
            "text": np.array([1, 1, 1, 1, 0, 1], bool),
            "image": np.array([1, 0, 1, 1, 1, 1], bool),
            "audio": np.array([0, 1, 1, 1, 1, 0], bool),
        }
        losses = pairwise_contrastive_losses(embeddings, present, 10.0)
        self.assertEqual(["text_image", "text_audio", "image_audio"], list(losses))
        for a, b in PAIRS:
            expected, _, _ = numpy_contrastive(
                embeddings[a], embeddings[b], 10.0, present[a] & present[b]
            )
            self.assertAllClose(expected, losses[f"{a}_{b}"], atol=1e-5)
        subset = {"audio": embeddings["audio"], "text": embeddings["text"]}
        self.assertEqual(["text_audio"], list(pairwise_contrastive_losses(subset, present, 1.0)))
        self.assertEqual({}, pairwise_contrastive_losses({"text": subset["text"]}, present, 1.0))
        with self.assertRaisesRegex(ValueError, "images"):
            pairwise_contrastive_losses({"images": subset["text"]}, present, 1.0)
        with self.assertRaisesRegex(ValueError, "audio"):
            pairwise_contrastive_losses(subset, {"text": present["text"]}, 1.0)
        # Text negatives are candidates for the image and audio queries of the text pairs.
        text_negatives = normalized(rng, (6, 4)), np.array([1, 1, 0, 1, 1, 1], bool)
        with_negatives = pairwise_contrastive_losses(
            embeddings, present, 10.0, negatives={"text": text_negatives}
        )
        for a, b in PAIRS:
            expected = numpy_contrastive_with_negatives(
                embeddings[a],
                embeddings[b],
                10.0,
                present[a] & present[b],
                negatives_a=text_negatives if a == "text" else None,
            )
            self.assertAllClose(expected, with_negatives[f"{a}_{b}"], atol=1e-5)
        self.assertAllClose(losses["image_audio"], with_negatives["image_audio"])
        with self.assertRaisesRegex(ValueError, "image"):
            pairwise_contrastive_losses(subset, present, 1.0, negatives={"image": text_negatives})

    def test_distributed_matches_full_batch(self):
        results = distributed_results()
        self.assertEqual(2, results["num_replicas"])
        case = results["cases"][0]
        a = np.float64(DISTRIBUTED_INPUTS["x_a"]) @ np.float64(DISTRIBUTED_INPUTS["kernel_a"])
        b = np.float64(DISTRIBUTED_INPUTS["x_b"]) @ np.float64(DISTRIBUTED_INPUTS["kernel_b"])
        a /= np.linalg.norm(a, axis=-1, keepdims=True)
        b /= np.linalg.norm(b, axis=-1, keepdims=True)
        valid = np.array(DISTRIBUTED_INPUTS["cases"][0]["valid"])
        expected, _, _ = numpy_contrastive(a, b, 4.0, valid)
        self.assertAllClose(expected, case["full_loss"], atol=1e-5)
        self.assertAllClose(expected, np.mean(case["replica_losses"]), atol=1e-5)
        # Every replica's gradient covers all replicas' losses (all_gather's gradient is
        # all-reduced), so sum / num_replicas is the gradient of the mean loss.
        full_grads = case["full_grads"]
        for i, per_replica in enumerate(case["kernel_grads"]):  # (replica, ...) per kernel
            self.assertAllClose(full_grads[i], np.sum(per_replica, axis=0) / 2, atol=1e-5)
            # Each replica's gradient differs: it holds only its own rows' inputs.
            self.assertGreater(np.abs(np.subtract(*per_replica)).max(), 1e-3)
        for i, per_replica in enumerate(case["input_grads"]):
            self.assertAllClose(full_grads[2 + i], np.concatenate(per_replica) / 2, atol=1e-5)

    def test_distributed_hard_negatives_match_full_batch(self):
        case = distributed_results()["cases"][2]
        inputs = DISTRIBUTED_INPUTS["cases"][2]
        a = np.float64(DISTRIBUTED_INPUTS["x_a"]) @ np.float64(DISTRIBUTED_INPUTS["kernel_a"])
        b = np.float64(DISTRIBUTED_INPUTS["x_b"]) @ np.float64(DISTRIBUTED_INPUTS["kernel_b"])
        a /= np.linalg.norm(a, axis=-1, keepdims=True)
        b /= np.linalg.norm(b, axis=-1, keepdims=True)
        valid = np.array(inputs["valid"])
        # Each replica reverses its own rows: the gathered negatives are the two halves reversed.
        negatives = np.concatenate([a[:4][::-1], a[4:][::-1]])
        expected = numpy_contrastive_with_negatives(
            a, b, 4.0, valid, negatives_a=(negatives, np.array(inputs["negatives_valid"]))
        )
        # Both replicas hold 4 rows but a different number of valid ones: weight the means.
        counts = valid[:4].sum(), valid[4:].sum()
        weighted = np.dot(counts, case["replica_losses"]) / sum(counts)
        self.assertAllClose(expected, weighted, atol=1e-5)

    def test_distributed_uneven_batches(self):
        case = distributed_results()["cases"][1]
        weighted = (5 * case["replica_losses"][0] + 3 * case["replica_losses"][1]) / 8
        self.assertAllClose(case["full_loss"], weighted, atol=1e-5)
