"""Tests for the fusion encoder, the text decoder and the multimodal backbone."""

import os
import tempfile

import numpy as np

from mmlm.backend import keras, tf
from mmlm.testing import TestCase
from mmlm.testing.models import tiny_backbone, tiny_batch

_INPUTS = (
    "token_ids",
    "padding_mask",
    "images",
    "audio",
    "audio_padding_mask",
    "text_present",
    "image_present",
    "audio_present",
)


def backbone_inputs(batch):
    inputs = {key: batch[key] for key in _INPUTS}
    inputs["decoder_token_ids"] = batch["token_ids"][:, :-1]
    inputs["decoder_padding_mask"] = batch["padding_mask"][:, :-1]
    return inputs


class MultimodalBackboneTest(TestCase):
    def test_outputs(self):
        backbone = tiny_backbone()
        out = backbone(backbone_inputs(tiny_batch()))
        for m in ("text", "image", "audio"):
            self.assertEqual(out[f"{m}_embedding"].shape, (3, 8))
            self.assertAllClose(
                np.linalg.norm(out[f"{m}_embedding"], axis=-1), np.ones(3), atol=1e-5
            )
        self.assertEqual(out["decoder_logits"].shape, (3, 7, 50))
        length = 1 + 8 + 4 + backbone.audio_encoder.num_patches  # null + text + image + audio
        self.assertEqual(out["fused_sequence"].shape, (3, length, 16))

    def test_missing_modality_does_not_leak(self):
        """Rows without an image (or audio) give the same fused outputs whatever it contains."""
        backbone = tiny_backbone()
        present = {"image": [True, False, True], "audio": [False, False, True]}
        batch = tiny_batch(present=present)
        out = backbone(backbone_inputs(batch))
        changed = dict(batch)
        changed["images"] = batch["images"][:, ::-1] + 0.3
        changed["audio"] = batch["audio"][::-1]
        again = backbone(backbone_inputs(changed))
        self.assertAllClose(out["decoder_logits"][1], again["decoder_logits"][1], atol=1e-5)
        self.assertAllClose(
            out["fused_pooled_output"][1], again["fused_pooled_output"][1], atol=1e-5
        )
        self.assertGreater(
            float(np.abs(out["decoder_logits"][0] - again["decoder_logits"][0]).max()), 1e-4
        )
        # Each embedding comes from its tower alone: the text's ignores the image and audio
        # (benchmarks/missing_modality.py measures the same on a trained model).
        self.assertAllEqual(out["text_embedding"], again["text_embedding"])

    def test_no_modality_but_text_is_finite(self):
        backbone = tiny_backbone()
        batch = tiny_batch(
            present={"image": [False] * 3, "audio": [False] * 3, "text": [False] * 3}
        )
        out = backbone(backbone_inputs(batch))
        self.assertTrue(np.isfinite(out["decoder_logits"].numpy()).all())

    def test_subset_of_modalities(self):
        backbone = tiny_backbone(modalities=("text", "image"))
        inputs = {k: v for k, v in backbone_inputs(tiny_batch()).items() if "audio" not in k}
        out = backbone(inputs)
        self.assertNotIn("audio_embedding", out)
        image_only = tiny_backbone(modalities=("image",))
        self.assertEqual(image_only.modalities, ("image",))

    def test_embedding_models_match_backbone(self):
        backbone = tiny_backbone()
        batch = tiny_batch()
        out = backbone(backbone_inputs(batch))
        for m in ("text", "image", "audio"):
            model = backbone.embedding_model(m)
            embedded = model({name: batch[name] for name in model.input})
            self.assertAllClose(out[f"{m}_embedding"], embedded, atol=1e-6)
            self.assertAllClose(backbone.embed(m, batch), embedded, atol=1e-6)

    def test_encode_and_decode_matches_the_call(self):
        """Fewer decoded rows and a hidden modality change the compute, not the result."""
        backbone = tiny_backbone()
        batch = tiny_batch(present={"image": [True, False, True], "text": [False] * 3})
        inputs = backbone_inputs(batch)
        out = backbone(inputs)
        for rows in (None, 2, tf.constant(1)):
            split = backbone.encode_and_decode(inputs, decoder_rows=rows, hidden=("text",))
            for m in ("text", "image", "audio"):
                self.assertAllClose(out[f"{m}_embedding"], split[f"{m}_embedding"], atol=1e-6)
            expected = out["decoder_logits"][: 3 if rows is None else int(rows)]
            self.assertAllClose(expected, split["decoder_logits"], atol=1e-5)
        self.assertNotIn("decoder_logits", backbone.encode_and_decode(inputs, decoder_rows=0))
        # Present text (not hidden) still reaches the decoder through the fusion.
        shown = backbone_inputs(tiny_batch())
        self.assertAllClose(
            backbone(shown)["decoder_logits"],
            backbone.encode_and_decode(shown)["decoder_logits"],
            atol=1e-5,
        )

    def test_keras_file_round_trip(self):
        backbone = tiny_backbone()
        inputs = backbone_inputs(tiny_batch())
        expected = backbone(inputs)
        path = os.path.join(tempfile.mkdtemp(), "backbone.keras")
        backbone.save(path)
        revived = keras.models.load_model(path)
        self.assertEqual(revived.get_config(), backbone.get_config())
        actual = revived(inputs)
        for key, value in expected.items():
            self.assertAllClose(value, actual[key], atol=1e-6)
        self.assertLen(
            revived.image_encoder.masked_encoder.weights,
            len(backbone.image_encoder.masked_encoder.weights),
        )

    def test_trains_one_step(self):
        backbone = tiny_backbone()
        inputs = backbone_inputs(tiny_batch())
        optimizer = keras.optimizers.Adam(1e-2)
        with tf.GradientTape() as tape:
            out = backbone(inputs, training=True)
            loss = tf.reduce_mean(out["decoder_logits"] ** 2) - tf.reduce_sum(
                out["text_embedding"] * out["image_embedding"]
            )
        grads = tape.gradient(loss, backbone.trainable_variables)
        optimizer.apply_gradients(
            (g, v) for g, v in zip(grads, backbone.trainable_variables) if g is not None
        )
        self.assertTrue(np.isfinite(float(loss)))
