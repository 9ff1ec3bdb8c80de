"""Every tower with chunked attention equals the dense one; configs and SavedModels keep it."""

import os
import tempfile

import pytest

from mmlm.backend import keras, tf
from mmlm.models import MultimodalBackbone, TextEncoder
from mmlm.testing import TestCase
from mmlm.testing.models import tiny_backbone, tiny_batch

# Chunks of 3 split every tower's sequence (text 8, image 4, audio 24 patches, fusion and
# decoder sequences) into several chunks, the last one padded.
CHUNKED = {"attention_implementation": "chunked", "attention_chunk_size": 3}
TOWERS = ("text_encoder", "image_encoder", "audio_encoder", "fusion_encoder", "text_decoder")


def backbone_inputs(batch):
    inputs = {k: v for k, v in batch.items() if not k.startswith("mask") and "patch" not in k}
    inputs["decoder_token_ids"] = batch["token_ids"][:, :-1]
    inputs["decoder_padding_mask"] = batch["padding_mask"][:, :-1]
    return inputs


def outputs_and_gradients(backbone, inputs):
    with tf.GradientTape() as tape:
        outputs = backbone(inputs, training=True)
        loss = sum(tf.reduce_mean(tf.sin(t)) for t in outputs.values() if t.dtype.is_floating)
    gradients = tape.gradient(loss, backbone.trainable_variables)
    # Embedding gradients are IndexedSlices; weights the outputs do not use (mask tokens) None.
    return outputs, [g if g is None else tf.convert_to_tensor(g) for g in gradients]


class ChunkedAttentionTowersTest(TestCase):
    @pytest.mark.slow  # about 80-140 s on 2 shared cores (the whole backbone's gradients)
    def test_every_tower_equals_dense(self):
        inputs = backbone_inputs(tiny_batch(batch_size=3))
        dense, chunked = tiny_backbone(), tiny_backbone(attention=CHUNKED)
        chunked.set_weights(dense.get_weights())
        expected = outputs_and_gradients(dense, inputs)
        actual = tf.function(outputs_and_gradients)(chunked, inputs)
        self.assertAllCloseNested(expected, actual, atol=1e-5, rtol=1e-5)
        attention_kernels = [
            g for v, g in zip(chunked.trainable_variables, actual[1]) if "attention" in v.name
        ]
        self.assertTrue(attention_kernels and all(g is not None for g in attention_kernels))
        for tower in TOWERS:
            config = chunked.get_layer(tower).get_config()
            self.assertEqual(config["attention_implementation"], "chunked", tower)
            self.assertEqual(config["attention_chunk_size"], 3, tower)
        revived = MultimodalBackbone.from_config(chunked.get_config())
        for tower in TOWERS:
            block = next(
                layer
                for layer in revived.get_layer(tower)._flatten_layers()
                if hasattr(layer, "attention_implementation") and not isinstance(layer, keras.Model)
            )
            self.assertEqual(block.attention_implementation, "chunked", tower)

    def test_configs_without_the_option_load_dense(self):
        """Presets written before the option existed have no such keys."""
        encoder = TextEncoder(50, 8, 16, 1, 2, 32, name="text_encoder")
        config = encoder.get_config()
        self.assertEqual(config["attention_implementation"], "dense")
        del config["attention_implementation"], config["attention_chunk_size"]
        self.assertEqual(TextEncoder.from_config(config).attention_implementation, "dense")

    def test_savedmodel_of_a_chunked_encoder(self):
        dense = TextEncoder(50, 40, 16, 2, 2, 32, name="text_encoder")
        encoder = TextEncoder(50, 40, 16, 2, 2, 32, **CHUNKED, name="text_encoder")
        inputs = {
            "token_ids": tf.random.uniform((2, 40), 1, 50, tf.int32),
            "padding_mask": tf.sequence_mask([40, 17], 40),
        }
        dense(inputs), encoder(inputs)
        encoder.set_weights(dense.get_weights())
        serve = tf.function(
            lambda token_ids, padding_mask: encoder(
                {"token_ids": token_ids, "padding_mask": padding_mask}
            )["pooled_output"],
            input_signature=[
                tf.TensorSpec((None, None), tf.int32),
                tf.TensorSpec((None, None), tf.bool),
            ],
        )
        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, "model")
            tf.saved_model.save(encoder, path, signatures={"serving_default": serve})
            loaded = tf.saved_model.load(path).signatures["serving_default"]
            output = next(iter(loaded(**inputs).values()))
        self.assertAllClose(dense(inputs)["pooled_output"], output, atol=1e-5, rtol=1e-5)

    def test_model_config_reaches_every_tower(self):
        from mmlm.config import ExperimentConfig, apply_overrides
        from mmlm.tasks.builders import build_backbone

        config = apply_overrides(
            ExperimentConfig(),
            [
                "model.attention_implementation=chunked",
                "model.attention_chunk_size=16",
                "model.image_patch_dropout=0.5",
                "model.audio_patch_dropout=0.25",
            ],
        )
        backbone = build_backbone(config, 50)
        for tower in TOWERS:
            settings = backbone.get_layer(tower).get_config()
            self.assertEqual(
                (settings["attention_implementation"], settings["attention_chunk_size"]),
                ("chunked", 16),
                tower,
            )
        self.assertEqual(backbone.image_encoder.patch_dropout, 0.5)
        self.assertEqual(backbone.audio_encoder.patch_dropout, 0.25)
