"""TFMOT pruning of mmlm models: wrappers, schedules, 2:4 structure, stripping and reports."""

import glob
import os

import numpy as np

from mmlm.backend import keras, tf
from mmlm.compression.m_by_n import kernel_input_axes
from mmlm.compression.pruning import (
    UpdatePruningStep,
    all_layers,
    make_pruning_schedule,
    prune_backbone,
    prune_model,
    pruning_wrappers,
    strip_pruning,
    tfmot,
)
from mmlm.compression.sparsity import sparsity_report, write_sparsity_summaries
from mmlm.config.sections import PruningSchedule
from mmlm.layers import TransformerEncoderBlock
from mmlm.testing import TestCase
from mmlm.testing.models import tiny_backbone, tiny_batch


def _fit_pruned(pruned, inputs, expected, steps=1):
    """A few SGD(0) steps with the pruning callback: masks update, weights stay."""
    pruned.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse")
    data = tf.data.Dataset.from_tensors((inputs, expected)).repeat(steps)
    pruned.fit(data, epochs=1, verbose=0, callbacks=[UpdatePruningStep()])


def _groups_of_four(kernel, input_axes):
    """(groups, 4) of a kernel's values, grouped along its flattened input axes (zero-padded)."""
    output_axes = [a for a in range(kernel.ndim) if a not in input_axes]
    rows = np.transpose(kernel, output_axes + list(input_axes)).reshape(
        int(np.prod([kernel.shape[a] for a in output_axes])), -1
    )
    rows = np.pad(rows, [(0, 0), (0, -rows.shape[1] % 4)])
    return rows.reshape(-1, 4)


class PruningTest(TestCase):
    def test_prune_embedding_models_and_strip(self):
        backbone = tiny_backbone()
        batch = tiny_batch()
        schedule = make_pruning_schedule(PruningSchedule.CONSTANT, 0.5, end_step=10, frequency=1)
        for modality in ("text", "image", "audio"):
            model = backbone.embedding_model(modality)
            inputs = {name: batch[name] for name in model.input}
            expected = model(inputs)
            pruned = prune_model(model, schedule)
            wrappers = pruning_wrappers(pruned)
            wrapped = [type(w.layer).__name__ for w in wrappers]
            first = "Embedding" if modality == "text" else "PatchEmbedding"
            # One wrapper per layer: the encoder's masked twin shares them.
            self.assertCountEqual([first, "TransformerEncoderBlock", "ProjectionHead"], wrapped)
            # Before any pruning step the wrapped model computes the same function.
            self.assertAllClose(expected, pruned(inputs), atol=1e-5)
            _fit_pruned(pruned, inputs, expected.numpy())
            stripped = strip_pruning(pruned, model)
            blocks = [
                layer
                for layer in all_layers(stripped)
                if isinstance(layer, TransformerEncoderBlock)
            ]
            self.assertNotEmpty(blocks)
            for kernel in blocks[0].get_prunable_weights():
                sparsity = float(np.mean(kernel.numpy() == 0.0))
                self.assertAllClose(sparsity, 0.5, atol=0.05)

    def test_schedules(self):
        polynomial = make_pruning_schedule("polynomial", 0.8, end_step=100, frequency=10)
        self.assertIsInstance(polynomial, tfmot.sparsity.keras.PolynomialDecay)
        constant = make_pruning_schedule(PruningSchedule.CONSTANT, 0.8, end_step=100)
        self.assertIsInstance(constant, tfmot.sparsity.keras.ConstantSparsity)
        for step, prunes, sparsity in ((50, True, 0.7), (55, False, None), (100, True, 0.8)):
            should, value = polynomial(tf.constant(step, tf.int64))
            self.assertEqual(prunes, bool(should), msg=step)
            if sparsity is not None:  # cubic: 0.8 * (1 - (1 - 50/100) ** 3) = 0.7
                self.assertAllClose(sparsity, float(value), atol=1e-6)
        self.assertAllClose(0.8, float(constant(tf.constant(10, tf.int64))[1]))
        with self.assertRaisesRegex(ValueError, "final_sparsity"):
            make_pruning_schedule("constant", 1.0, end_step=10)
        with self.assertRaisesRegex(ValueError, "end_step"):
            make_pruning_schedule("polynomial", 0.5, end_step=0)
        with self.assertRaises(ValueError):
            make_pruning_schedule("cubic", 0.5, end_step=10)

    def test_2_by_4_along_input_axes_of_stripped_kernels(self):
        from tensorflow_model_optimization.python.core.sparsity.keras import pruning_utils

        model = tiny_backbone(modalities=("image",)).embedding_model("image")
        inputs = {"images": tiny_batch()["images"]}
        expected = model(inputs).numpy()
        schedule = make_pruning_schedule("constant", 0.5, end_step=10, frequency=1)
        pruned = prune_model(model, schedule, sparsity_m_by_n=(2, 4))
        _fit_pruned(pruned, inputs, expected)
        strip_pruning(pruned, model)
        checked = set()
        for wrapper in pruning_wrappers(pruned):
            for layer in wrapper.layer._flatten_layers(include_self=True):
                axes = kernel_input_axes(layer)
                if axes is None:
                    continue
                kernel = layer.kernel.numpy()
                nonzero = np.count_nonzero(_groups_of_four(kernel, axes), axis=1)
                self.assertLessEqual(int(nonzero.max()), 2, msg=layer.name)
                self.assertAllClose(0.5, np.mean(kernel == 0), atol=0.02, msg=layer.name)
                if kernel.ndim == 2:  # TFMOT's own checker agrees (TFLite's (out, in) layout)
                    self.assertTrue(pruning_utils.is_pruned_m_by_n(tf.constant(kernel)))
                checked.add(type(layer).__name__)
        self.assertEqual({"Conv2D", "EinsumDense", "Dense"}, checked)
        # The stripped model is a plain float model again: it converts with built-in ops only.
        self.run_tflite_test(model, [{"images": inputs["images"][:1]}], "dynamic")

    def test_prune_backbone_shares_wrappers_between_plain_and_masked_towers(self):
        backbone = tiny_backbone()
        schedule = make_pruning_schedule("polynomial", 0.5, end_step=10)
        pruned = prune_backbone(backbone, schedule)
        self.assertIsInstance(pruned, type(backbone))
        wrappers = pruning_wrappers(pruned)
        # 3 encoders x (embedding + block) + 3 fusion blocks + decoder (embedding, block,
        # lm_head) + 3 heads, each wrapped once.
        self.assertLen(wrappers, 15)
        image = pruned.image_encoder
        masked = {id(layer) for layer in image.masked_encoder.layers}
        self.assertTrue(all(id(layer) in masked for layer in image.layers if layer in wrappers))
        self.assertEqual(backbone.image_encoder.patch_size, image.patch_size)
        batch = tiny_batch()
        for modality in backbone.modalities:
            model = backbone.embedding_model(modality)
            inputs = {name: batch[name] for name in model.input}
            self.assertAllClose(model(inputs), pruned.embedding_model(modality)(inputs))

    def test_update_pruning_step_counts_optimizer_steps(self):
        # A layer called twice per step (as encoder layers are: plain and masked inputs).
        inputs = keras.Input((8,))
        shared = keras.layers.Dense(8, name="shared")
        model = keras.Model(inputs, shared(shared(inputs)))
        schedule = make_pruning_schedule("constant", 0.5, end_step=100, frequency=3)
        pruned = prune_model(model, schedule)
        (wrapper,) = pruning_wrappers(pruned)
        x = np.random.default_rng(0).normal(size=(4, 8)).astype("float32")
        _fit_pruned(pruned, x, model(x).numpy(), steps=2)
        # Counting calls (TFMOT), the second step would have been "step" 3 and 4: pruned.
        self.assertEqual(1.0, float(np.min(wrapper.pruning_vars[0][1].numpy())))
        self.assertEqual(2, int(wrapper.optimizer_step.numpy()))
        pruned.fit(x, model(x).numpy(), epochs=1, verbose=0, callbacks=[UpdatePruningStep()])
        self.assertEqual(3, int(pruned.optimizer.iterations.numpy()))
        self.assertAllClose(0.5, np.mean(wrapper.pruning_vars[0][1].numpy() == 0))

    def test_sparsity_report_matches_numpy_and_is_logged(self):
        model = tiny_backbone(modalities=("text",)).embedding_model("text")
        rng = np.random.default_rng(0)
        expected_zeros, total = 0, 0
        kernels = [w for w in model.weights if w.name.endswith(("kernel:0", "embeddings:0"))]
        for weight in kernels:
            if "position_embedding" in weight.name:
                continue
            values = weight.numpy() * (rng.uniform(size=weight.shape) > 0.3)
            weight.assign(values)
            expected_zeros += np.count_nonzero(values == 0)
            total += values.size
        report = sparsity_report(model)
        self.assertEqual(total, report["overall"]["size"])
        self.assertAllClose(expected_zeros / total, report["overall"]["sparsity"])
        self.assertEqual(total, sum(entry["size"] for entry in report["weights"].values()))
        self.assertIn("text_encoder/block_0/self_attention_layer/query/kernel", report["weights"])
        self.assertIn("text_encoder/token_embedding/embeddings", report["weights"])
        self.assertIn("text_projection/dense/kernel", report["weights"])

        log_dir = self.get_temp_dir()
        write_sparsity_summaries(report, log_dir, step=7)
        tags = {}
        for path in glob.glob(os.path.join(log_dir, "events.out.tfevents.*")):
            for event in tf.compat.v1.train.summary_iterator(path):
                for value in event.summary.value:
                    tags[value.tag] = (event.step, float(tf.make_ndarray(value.tensor)))
        self.assertEqual(7, tags["sparsity/overall"][0])
        self.assertAllClose(report["overall"]["sparsity"], tags["sparsity/overall"][1])
        self.assertEqual(len(report["weights"]) + 1, len(tags))
