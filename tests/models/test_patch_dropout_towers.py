"""Patch dropout in the ViT and audio towers: train-only, and dropped patches have no effect."""

import numpy as np

from mmlm.backend import tf
from mmlm.models import AudioSpectrogramEncoder, ViTEncoder
from mmlm.testing import TestCase
from mmlm.testing.models import AUDIO_PATCHES, LOG_MEL, NUM_SAMPLES, TINY

# 32 x 32 images in 8 x 8 patches: 16 patches, 4 kept at a rate of 0.75.
SIDE, PATCH = 32, 8


def vit(patch_dropout):
    return ViTEncoder(SIDE, PATCH, **TINY, patch_dropout=patch_dropout, name="image_encoder")


def pooled(encoder, images, training):
    tf.random.set_seed(7)  # the same patches are dropped on every call
    return encoder({"images": images}, training=training)["pooled_output"]


class PatchDropoutTowersTest(TestCase):
    def test_only_the_kept_patches_influence_a_training_pass(self):
        encoder = vit(0.75)
        images = tf.random.uniform((1, SIDE, SIDE, 3))
        outputs = encoder({"images": images}, training=True)
        self.assertEqual(outputs["patch_output"].shape, (1, 4, TINY["hidden_dim"]))
        self.assertEqual(outputs["padding_mask"].shape, (1, 4))
        reference = pooled(encoder, images, training=True)
        influential = 0
        for index in range(16):
            row, col = divmod(index, SIDE // PATCH)
            bump = np.zeros((1, SIDE, SIDE, 3), np.float32)
            bump[:, row * PATCH : (row + 1) * PATCH, col * PATCH : (col + 1) * PATCH] = 0.5
            changed = pooled(encoder, images + bump, training=True)
            influential += int(np.max(np.abs(changed - reference)) > 1e-6)
        self.assertEqual(influential, 4)  # exactly the 4 kept patches; the 12 dropped: none

    def test_evaluation_sees_every_patch_and_equals_no_dropout(self):
        dropping, plain = vit(0.5), vit(0.0)
        images = tf.random.uniform((2, SIDE, SIDE, 3))
        plain({"images": images})
        dropping({"images": images})
        dropping.set_weights(plain.get_weights())
        expected = plain({"images": images}, training=False)
        actual = dropping({"images": images}, training=False)
        self.assertAllCloseNested(expected, actual)
        self.assertEqual(actual["patch_output"].shape[1], 16)
        # The masked graph (masked image modelling) never drops.
        masked = dropping.masked_encoder(
            {"images": images, "patch_mask": tf.zeros((2, 16), bool)}, training=True
        )
        self.assertEqual(masked["patch_output"].shape[1], 16)
        self.assertEqual(ViTEncoder.from_config(dropping.get_config()).patch_dropout, 0.5)

    def test_audio_drops_a_share_of_valid_patches(self):
        encoder = AudioSpectrogramEncoder(
            NUM_SAMPLES, LOG_MEL, 8, **TINY, patch_dropout=0.5, name="audio_encoder"
        )
        lengths = np.array([NUM_SAMPLES, NUM_SAMPLES // 2])
        inputs = {
            "audio": tf.random.uniform((2, NUM_SAMPLES), -0.5, 0.5),
            "audio_padding_mask": tf.constant(np.arange(NUM_SAMPLES) < lengths[:, None]),
        }
        full = encoder(inputs, training=False)
        dropped = encoder(inputs, training=True)
        self.assertEqual(full["padding_mask"].shape[1], AUDIO_PATCHES)
        self.assertEqual(dropped["padding_mask"].shape[1], AUDIO_PATCHES // 2)
        valid = tf.reduce_sum(tf.cast(full["padding_mask"], tf.float32), axis=1)
        kept = tf.reduce_sum(tf.cast(dropped["padding_mask"], tf.float32), axis=1)
        self.assertAllEqual(kept, np.ceil(valid.numpy() * 0.5))
