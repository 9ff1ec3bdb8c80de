"""`TestCase` with the shared checks of STYLE.md §4.

A test file calls `run_layer_test` or `run_preprocessing_layer_test` and then only asserts what is
special about its layer, so setup is never copied between files.
"""

import shutil
import tempfile

import numpy as np
import tensorflow as tf

from mmlm.backend import keras
from mmlm.testing.references import numpy_token_cross_entropy


def _to_numpy(structure):
    return tf.nest.map_structure(
        lambda t: t.to_list() if isinstance(t, tf.RaggedTensor) else np.asarray(t), structure
    )


class TestCase(tf.test.TestCase):
    """Base class for mmlm tests."""

    # tf.test.TestCase's deprecated `test_session` helper would be collected (and reported as a
    # skipped test) in every test class.
    test_session = None

    def setUp(self):
        super().setUp()
        keras.backend.clear_session()
        keras.utils.set_random_seed(1234)

    @classmethod
    def class_directory(cls):
        """A temporary directory shared by the class's tests, removed after the last of them.

        With `enterClassContext` (a server, gRPC stubs) it replaces a hand-written
        `tearDownClass`: cleanups run in reverse, so servers stop before their models go.
        """
        directory = tempfile.mkdtemp()
        cls.addClassCleanup(shutil.rmtree, directory, ignore_errors=True)
        return directory

    def assertAllCloseNested(self, expected, actual, **tolerances):
        """`assertAllClose` over matching nested structures (dicts of tensors)."""
        tf.nest.assert_same_structure(expected, actual)
        for e, a in zip(tf.nest.flatten(_to_numpy(expected)), tf.nest.flatten(_to_numpy(actual))):
            if np.asarray(e).dtype.kind in "OSUb":
                self.assertAllEqual(e, a)
            else:
                self.assertAllClose(e, a, **tolerances)

    def draw_negatives(self, layer, token_ids, valid, draws=300):
        """Calls a hard-negative layer (`WordSwapNegatives`, `WordExchangeNegatives`) `draws`
        times on `token_ids`; checks each draw's (B, L) int32 negatives and its (B,) `valid`
        flags; returns the negatives of every draw as NumPy arrays."""
        drawn = []
        for _ in range(draws):
            negatives, flags = layer(token_ids)
            self.assertEqual(negatives.dtype, tf.int32)
            self.assertAllEqual(valid, flags)
            drawn.append(negatives.numpy())
        return drawn

    def run_serialization_test(self, layer):
        """Config round trip: `from_config(get_config())` rebuilds an equal config."""
        config = layer.get_config()
        revived = layer.__class__.from_config(config)
        self.assertEqual(config, revived.get_config())
        serialized = keras.saving.serialize_keras_object(layer)
        revived = keras.saving.deserialize_keras_object(serialized)
        self.assertEqual(config, revived.get_config())
        return revived

    def run_layer_test(self, layer, inputs, expected_output_shape=None, **tolerances):
        """Serialization, eager vs `tf.function` parity and the symbolic output shape.

        Args:
            layer: the layer under test (built or not).
            inputs: a tensor or dict of tensors with a batch dimension.
            expected_output_shape: optional shape (or nested shapes) of the eager output.
        Returns:
            The eager output.
        """
        eager = layer(inputs)
        revived = self.run_serialization_test(layer)
        graph = tf.function(layer)(inputs)
        self.assertAllCloseNested(eager, graph, **tolerances)
        if revived.weights == [] and layer.weights == []:
            # Stateless layers must give the same numbers after the round trip.
            self.assertAllCloseNested(eager, revived(inputs), **tolerances)
        if expected_output_shape is not None:
            shapes = tf.nest.map_structure(lambda t: tuple(t.shape), eager)
            self.assertEqual(expected_output_shape, shapes)
        symbolic = layer(
            tf.nest.map_structure(
                lambda t: keras.Input(shape=t.shape[1:], dtype=t.dtype, batch_size=None), inputs
            )
        )
        tf.nest.map_structure(
            lambda s, e: self.assertEqual(list(s.shape[1:]), list(e.shape[1:])), symbolic, eager
        )
        return eager

    def run_preprocessing_layer_test(self, layer, examples, **tolerances):
        """Eager vs `tf.data.map`, and batched vs one example at a time.

        Args:
            layer: a preprocessing layer that accepts batched and unbatched inputs.
            examples: a batch (tensor or dict of tensors; leading dimension = examples).
        Returns:
            The batched eager output.
        """
        self.run_serialization_test(layer)
        batched = layer(examples)
        dataset = tf.data.Dataset.from_tensor_slices(examples)
        mapped = next(iter(dataset.batch(1_000_000).map(layer)))
        self.assertAllCloseNested(batched, mapped, **tolerances)
        one_by_one = [layer(example) for example in dataset]
        for i, single in enumerate(one_by_one):
            row = tf.nest.map_structure(lambda t: t[i], batched)
            self.assertAllCloseNested(row, single, **tolerances)
        unbatched_map = list(dataset.map(layer))
        for single, mapped_single in zip(one_by_one, unbatched_map):
            self.assertAllCloseNested(single, mapped_single, **tolerances)
        return batched

    def run_token_loss_test(self, loss_fn, logits, labels, weights):
        """A weighted mean of token cross-entropies, `loss_fn(logits, labels, weights)`.

        Checks it against the NumPy reference (a float32 scalar, with float or bool weights),
        that zero weights give 0 and zero gradients, and that bfloat16 logits give the float32
        loss of their rounded values with finite gradients.
        """
        expected = np.sum(numpy_token_cross_entropy(logits, labels) * weights) / weights.sum()
        loss = loss_fn(logits, labels, weights)
        self.assertEqual((loss.dtype, loss.shape), (tf.float32, ()))
        self.assertAllClose(expected, loss, atol=1e-5)
        self.assertAllClose(expected, loss_fn(logits, labels, weights > 0), atol=1e-5)

        loss, gradient = _loss_and_gradient(loss_fn, logits, labels, 0 * weights)
        self.assertEqual(float(loss), 0.0)
        self.assertAllEqual(np.zeros(logits.shape), gradient)

        logits16 = tf.cast(logits, tf.bfloat16)
        rounded = tf.cast(logits16, tf.float32).numpy()
        expected = np.sum(numpy_token_cross_entropy(rounded, labels) * weights) / weights.sum()
        loss, gradient = _loss_and_gradient(loss_fn, logits16, labels, weights)
        self.assertEqual(loss.dtype, tf.float32)
        self.assertAllClose(expected, loss, atol=1e-5)
        self.assertTrue(np.isfinite(gradient).all())

    def assert_builtin_only(self, content, what="", present=()):
        """The operator codes of a `.tflite` flatbuffer: none is Flex or another custom op,
        and each of `present` is there (e.g. "WHILE" for an in-graph loop). Returns the names.
        """
        from mmlm.compression.tflite_ops import operator_names

        names = operator_names(content)
        self.assertNotEqual(names, [], f"{what}: no operator codes read")
        self.assertEqual([n for n in names if n.startswith("CUSTOM")], [], what)
        for name in present:
            self.assertIn(name, names, what)
        return names

    def run_tflite_test(self, model, rows, quantize="none", overrides=None, atol=2e-5):
        """Converts a one-output Keras model to TFLite and checks the interpreter against Keras
        (and that the file needs no Flex or custom op).

        Args:
            model: a functional model taking a dict.
            rows: input dicts with a batch of 1 (also the calibration data of "int8").
            quantize: "none" (every row within `atol`) or "dynamic"/"int8" (statistical: the
                mean cosine of the outputs over `rows` above 0.95).
            overrides: input lengths `input_specs` cannot read from the model.
        Returns:
            The `TFLiteRunner`.
        """
        from mmlm.compression.tflite import convert, input_specs
        from mmlm.serving.tflite_runner import TFLiteRunner

        calibration = (lambda: rows) if quantize == "int8" else None
        specs = input_specs(model, overrides=overrides)
        content = convert(model, specs, quantize, calibration)
        self.assert_builtin_only(content, "the .tflite needs Flex or custom ops")
        runner = TFLiteRunner(content)
        expected = np.concatenate([np.asarray(model(row)) for row in rows])
        actual = np.concatenate([np.asarray(runner(row)) for row in rows])
        self.assertEqual(expected.shape, actual.shape)
        if quantize == "none":
            self.assertAllClose(expected, actual, atol=atol)
        else:
            cosines = np.sum(expected * actual, axis=-1) / (
                np.linalg.norm(expected, axis=-1) * np.linalg.norm(actual, axis=-1)
            )
            self.assertGreater(float(np.mean(cosines)), 0.95, quantize)
        return runner


def _loss_and_gradient(loss_fn, logits, labels, weights):
    logits = tf.convert_to_tensor(logits)
    with tf.GradientTape() as tape:
        tape.watch(logits)
        loss = loss_fn(logits, labels, weights)
    return loss, tf.cast(tape.gradient(loss, logits), tf.float32).numpy()
