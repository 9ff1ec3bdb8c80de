"""TFMOT can wrap every prunable layer of the model (Dense, Embedding, keras-nlp blocks)."""

import numpy as np

from mmlm.backend import keras
from mmlm.compression.pruning import all_layers, prune_model, strip_pruning, tfmot
from mmlm.layers import TransformerEncoderBlock
from mmlm.testing import TestCase
from mmlm.testing.models import tiny_backbone, tiny_batch


class PruningTest(TestCase):
    def test_prune_embedding_models_and_strip(self):
        backbone = tiny_backbone()
        batch = tiny_batch()
        schedule = tfmot.sparsity.keras.ConstantSparsity(0.5, begin_step=0, frequency=1)
        for modality in ("text", "image", "audio"):
            model = backbone.embedding_model(modality)
            inputs = {name: batch[name] for name in model.input}
            expected = model(inputs)
            pruned = prune_model(model, schedule)
            wrappers = _wrappers(pruned)
            wrapped = {type(w.layer).__name__ for w in wrappers}
            first = "Embedding" if modality == "text" else "PatchEmbedding"
            self.assertEqual({first, "TransformerEncoderBlock", "ProjectionHead"}, wrapped)
            # Before any pruning step the wrapped model computes the same function.
            self.assertAllClose(expected, pruned(inputs), atol=1e-5)
            pruned.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse")
            pruned.fit(
                inputs,
                expected.numpy(),
                epochs=1,
                verbose=0,
                callbacks=[tfmot.sparsity.keras.UpdatePruningStep()],
            )
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


def _wrappers(model):
    from tensorflow_model_optimization.python.core.sparsity.keras import pruning_wrapper

    wrapper = pruning_wrapper.PruneLowMagnitude
    return [layer for layer in all_layers(model) if isinstance(layer, wrapper)]
