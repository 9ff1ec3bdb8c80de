"""Tests for the pairwise sigmoid (SigLIP) loss against a NumPy loop written from the paper."""

import numpy as np

from mmlm.backend import tf
from mmlm.objectives import PAIRS, pairwise_contrastive_losses, sigmoid_contrastive_loss
from mmlm.testing import TestCase
from tests.objectives.test_contrastive import DISTRIBUTED_INPUTS, distributed_results, normalized


def numpy_sigmoid(a, b, scale, bias, valid=None, negatives_a=None, negatives_b=None):
    """SigLIP's loss in float64, one pair at a time: -1/|B| sum_i sum_j log sigmoid(z_ij l_ij).

    Only valid rows form pairs; negatives_x = (embeddings, valid) are extra negatives in
    modality x for every valid row of the other modality.
    """
    a, b = np.float64(a), np.float64(b)
    valid = np.ones(len(a), bool) if valid is None else np.asarray(valid, bool)
    rows = np.flatnonzero(valid)
    if not len(rows):
        return 0.0

    def minus_log_sigmoid(x):
        return np.log1p(np.exp(-x)) if x > -30 else -x

    total = 0.0
    for i in rows:
        for j in rows:
            z = 1.0 if i == j else -1.0
            total += minus_log_sigmoid(z * (scale * a[i] @ b[j] + bias))
    for queries, negatives in ((a, negatives_b), (b, negatives_a)):
        if negatives is None:
            continue
        for i in rows:
            for row, ok in zip(np.float64(negatives[0]), negatives[1]):
                if ok:
                    total += minus_log_sigmoid(-(scale * queries[i] @ row + bias))
    return total / len(rows)


def projected(case_index):
    """The distributed script's unit embeddings (float64) and its case."""
    a = np.float64(DISTRIBUTED_INPUTS["x_a"]) @ np.float64(DISTRIBUTED_INPUTS["kernel_a"])
    b = np.float64(DISTRIBUTED_INPUTS["x_b"]) @ np.float64(DISTRIBUTED_INPUTS["kernel_b"])
    a /= np.linalg.norm(a, axis=-1, keepdims=True)
    b /= np.linalg.norm(b, axis=-1, keepdims=True)
    return a, b, DISTRIBUTED_INPUTS["cases"][case_index]


class SigmoidContrastiveLossTest(TestCase):
    def test_matches_numpy(self):
        rng = np.random.default_rng(0)
        a, b = normalized(rng, (7, 5)), normalized(rng, (7, 5))
        for valid in (None, np.array([1, 1, 0, 1, 0, 1, 1], bool), np.zeros(7, bool)):
            for scale, bias in ((10.0, -10.0), (3.0, 1.5)):
                with self.subTest(valid=valid, scale=scale, bias=bias):
                    loss = sigmoid_contrastive_loss(a, b, scale, bias, valid)
                    self.assertEqual(loss.dtype, tf.float32)
                    self.assertEqual(loss.shape, ())
                    expected = numpy_sigmoid(a, b, scale, bias, valid)
                    self.assertAllClose(expected, loss, atol=1e-5, rtol=1e-5)

    def test_hard_negatives_match_numpy(self):
        rng = np.random.default_rng(1)
        a, b = normalized(rng, (5, 4)), normalized(rng, (5, 4))
        valid = np.array([1, 1, 0, 1, 1], bool)
        negatives = normalized(rng, (6, 4)), np.array([1, 0, 1, 1, 1, 0], bool)
        for side in ("a", "b"):
            with self.subTest(side=side):
                kwargs = {f"negatives_{side}": negatives}
                loss = sigmoid_contrastive_loss(a, b, 8.0, -3.0, valid, **kwargs)
                expected = numpy_sigmoid(a, b, 8.0, -3.0, valid, **kwargs)
                self.assertAllClose(expected, loss, atol=1e-5)
                self.assertGreater(float(loss), numpy_sigmoid(a, b, 8.0, -3.0, valid))

    def test_gradients_match_finite_differences(self):
        rng = np.random.default_rng(2)
        a, b = normalized(rng, (4, 3)), normalized(rng, (4, 3))
        valid = np.array([1, 0, 1, 1], bool)
        variables = [tf.constant(x, tf.float64) for x in (a, b, [2.5], [-1.0])]
        with tf.GradientTape() as tape:
            tape.watch(variables)
            loss = sigmoid_contrastive_loss(
                variables[0], variables[1], variables[2][0], variables[3][0], valid
            )
        gradients = tape.gradient(loss, variables)

        def reference(values):
            return numpy_sigmoid(values[0], values[1], values[2][0], values[3][0], valid)

        values = [np.float64(v) for v in (a, b, [2.5], [-1.0])]
        for which, gradient in enumerate(gradients):
            numeric = np.zeros_like(values[which])
            for index in np.ndindex(numeric.shape):
                up = [v.copy() for v in values]
                down = [v.copy() for v in values]
                up[which][index] += 1e-6
                down[which][index] -= 1e-6
                numeric[index] = (reference(up) - reference(down)) / 2e-6
            # float32 inside the loss: tolerance of its rounding.
            self.assertAllClose(numeric, gradient, atol=1e-4)
        self.assertAllEqual(np.zeros(3), gradients[0][1])  # the invalid row learns nothing

    def test_pairwise_losses_choose_the_sigmoid_with_a_bias(self):
        rng = np.random.default_rng(3)
        embeddings = {name: normalized(rng, (6, 4)) for name in ("text", "image", "audio")}
        present = {
            "text": np.array([1, 1, 1, 1, 0, 1], bool),
            "image": np.array([1, 0, 1, 1, 1, 1], bool),
            "audio": np.array([0, 1, 1, 1, 1, 0], bool),
        }
        text_negatives = normalized(rng, (6, 4)), np.array([1, 1, 0, 1, 1, 1], bool)
        losses = pairwise_contrastive_losses(
            embeddings, present, 10.0, negatives={"text": text_negatives}, logit_bias=-10.0
        )
        self.assertEqual(["text_image", "text_audio", "image_audio"], list(losses))
        for a, b in PAIRS:
            expected = numpy_sigmoid(
                embeddings[a],
                embeddings[b],
                10.0,
                -10.0,
                present[a] & present[b],
                negatives_a=text_negatives if a == "text" else None,
            )
            self.assertAllClose(expected, losses[f"{a}_{b}"], atol=1e-5)

    def test_distributed_is_the_global_batch_loss(self):
        # Each replica's loss divides its rows' sum by the replicas' mean count of valid rows:
        # the plain mean of the replica losses is the global loss, even with 3 + 2 valid rows
        # (case 3) or 5 + 3 rows (case 4), and the gradients are the global batch's.
        results = distributed_results()["cases"]
        bias = DISTRIBUTED_INPUTS["bias"]
        for index in (3, 4, 5):
            with self.subTest(case=index):
                a, b, inputs = projected(index)
                case = results[index]
                valid = np.array(inputs["valid"])
                if "negatives_valid" in inputs:
                    # The negatives are a's rows reversed: on one device all 8, on the replicas
                    # each one's own 4, so the two runs pair validity flags with other rows.
                    split, flags = inputs["split"], np.array(inputs["negatives_valid"])
                    halves = np.concatenate([a[:split][::-1], a[split:][::-1]])
                    expected = numpy_sigmoid(a, b, 4.0, bias, valid, negatives_a=(halves, flags))
                    self.assertAllClose(expected, np.mean(case["replica_losses"]), atol=1e-5)
                    full = numpy_sigmoid(a, b, 4.0, bias, valid, negatives_a=(a[::-1], flags))
                    self.assertAllClose(full, case["full_loss"], atol=1e-5)
                    continue
                expected = numpy_sigmoid(a, b, 4.0, bias, valid)
                self.assertAllClose(expected, case["full_loss"], atol=1e-5)
                self.assertAllClose(expected, np.mean(case["replica_losses"]), atol=1e-5)
                for i, per_replica in enumerate(case["kernel_grads"]):
                    self.assertAllClose(
                        case["full_grads"][i], np.sum(per_replica, axis=0) / 2, atol=1e-5
                    )
                for i, per_replica in enumerate(case["input_grads"]):
                    self.assertAllClose(
                        case["full_grads"][2 + i], np.concatenate(per_replica) / 2, atol=1e-5
                    )
