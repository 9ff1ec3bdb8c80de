"""Tests for the text, image and audio encoders."""

import numpy as np

from mmlm.backend import keras, tf
from mmlm.models import ViTEncoder
from mmlm.testing import TestCase
from mmlm.testing.models import IMAGE_SIZE, NUM_SAMPLES, TINY, tiny_batch, tiny_encoders


class EncodersTest(TestCase):
    def test_text_encoder_padding_is_ignored(self):
        encoder = tiny_encoders()["text_encoder"]
        batch = tiny_batch()
        inputs = {"token_ids": batch["token_ids"], "padding_mask": batch["padding_mask"]}
        out = encoder(inputs)
        self.assertEqual(out["sequence_output"].shape, (3, 8, 16))
        noisy = np.where(batch["padding_mask"], batch["token_ids"], 7)
        again = encoder({"token_ids": noisy, "padding_mask": batch["padding_mask"]})
        self.assertAllClose(out["pooled_output"], again["pooled_output"], atol=1e-5)

    def test_vit_masked_encoder_shares_weights(self):
        encoder = tiny_encoders(pooling="class_token")["image_encoder"]
        images = tiny_batch()["images"]
        out = encoder({"images": images})
        self.assertEqual(out["sequence_output"].shape, (3, 5, 16))  # class token + 4 patches
        self.assertEqual(out["patch_output"].shape, (3, 4, 16))
        no_mask = np.zeros((3, 4), bool)
        masked = encoder.masked_encoder({"images": images, "patch_mask": no_mask})
        self.assertAllClose(out["pooled_output"], masked["pooled_output"], atol=1e-6)
        hidden = encoder.masked_encoder({"images": images, "patch_mask": ~no_mask})
        # Everything hidden: the output no longer depends on the image.
        other = encoder.masked_encoder({"images": images[::-1], "patch_mask": ~no_mask})
        self.assertAllClose(hidden["pooled_output"], other["pooled_output"], atol=1e-5)
        names = {w.name for w in encoder.weights}
        self.assertTrue(any("mask_token" in n for n in names))

    def test_audio_encoder_masks_padding(self):
        encoder = tiny_encoders()["audio_encoder"]
        batch = tiny_batch()
        inputs = {"audio": batch["audio"], "audio_padding_mask": batch["audio_padding_mask"]}
        out = encoder(inputs)
        self.assertEqual(out["patch_output"].shape[1], encoder.num_patches)
        valid = out["padding_mask"].numpy()
        self.assertTrue(valid.any(axis=1).all())
        masked = encoder.masked_encoder({**inputs, "patch_mask": np.zeros((3, 24), bool)})
        self.assertEqual(masked["spectrogram"].shape[0], 3)
        self.assertAllClose(out["pooled_output"], masked["pooled_output"], atol=1e-5)
        self.assertEqual(batch["audio"].shape[1], NUM_SAMPLES)

    def test_sincos_patch_positions(self):
        encoders = tiny_encoders(patch_positions="sincos")
        batch = tiny_batch()
        for key in ("image_encoder", "audio_encoder"):
            encoder, learned = encoders[key], tiny_encoders()[key]
            names = [w.name for w in encoder.weights]
            self.assertFalse(any("position" in n for n in names), names)
            # Learned positions are a (patches, hidden) table; sin-cos ones have no weights.
            self.assertEqual(
                learned.count_params() - encoder.count_params(),
                encoder.num_patches * encoder.hidden_dim,
            )
            revived = encoder.__class__.from_config(encoder.get_config())
            self.assertEqual(revived.get_config()["patch_positions"], "sincos")
        image = encoders["image_encoder"]
        flipped = image({"images": batch["images"][:, :, ::-1]})["pooled_output"]
        out = image({"images": batch["images"]})["pooled_output"]
        self.assertGreater(float(tf.reduce_max(tf.abs(out - flipped))), 1e-3)

    def test_config_round_trips(self):
        for encoder in tiny_encoders().values():
            config = encoder.get_config()
            revived = encoder.__class__.from_config(config)
            self.assertEqual(revived.get_config(), config)
            self.assertEqual(revived.count_params(), encoder.count_params())
            serialized = keras.saving.serialize_keras_object(encoder)
            self.assertEqual(keras.saving.deserialize_keras_object(serialized).get_config(), config)

    def test_vit_convolutional_stem(self):
        encoder = ViTEncoder(IMAGE_SIZE, 8, **TINY, stem_channels=(4, 8, 8), name="image_encoder")
        plain = tiny_encoders()["image_encoder"]
        stem = 3 * 3 * (3 * 4 + 4 * 8 + 8 * 8) + 4 + 8 + 8  # three 3x3 convs with biases
        projection_change = (8 - 8 * 8 * 3) * TINY["hidden_dim"]  # 1x1x8 instead of 8x8x3 inputs
        self.assertEqual(encoder.count_params() - plain.count_params(), stem + projection_change)
        config = encoder.get_config()
        self.assertEqual(config["stem_channels"], (4, 8, 8))
        revived = keras.saving.deserialize_keras_object(
            keras.saving.serialize_keras_object(encoder)
        )
        self.assertEqual(revived.get_config(), config)
        revived.set_weights(encoder.get_weights())
        images = tiny_batch()["images"]
        self.assertAllClose(
            revived({"images": images})["pooled_output"],
            encoder({"images": images})["pooled_output"],
        )

    def test_mixed_bfloat16(self):
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
        try:
            encoders = tiny_encoders()
            batch = tiny_batch()
            out = encoders["audio_encoder"](
                {"audio": batch["audio"], "audio_padding_mask": batch["audio_padding_mask"]}
            )
            self.assertTrue(np.isfinite(out["pooled_output"].numpy()).all())
            out = encoders["image_encoder"]({"images": batch["images"]})
            self.assertEqual(out["sequence_output"].dtype, tf.float32)  # final norm in float32
        finally:
            keras.mixed_precision.set_global_policy("float32")
