import numpy as np

from mmlm.backend import tf
from mmlm.data.preprocessing.image_preprocessor import ImagePreprocessor
from mmlm.testing import TestCase


class ImagePreprocessorTest(TestCase):
    def test_resize_and_rescale(self):
        layer = ImagePreprocessor(image_size=32)
        images = np.random.default_rng(0).integers(0, 256, (3, 48, 40, 3), dtype=np.uint8)
        out = self.run_preprocessing_layer_test(layer, tf.constant(images), atol=1e-6)
        self.assertEqual(out.shape, (3, 32, 32, 3))
        expected = tf.image.resize(images / 255.0, (32, 32), antialias=True).numpy()
        self.assertAllClose(out, np.clip(expected, 0, 1), atol=1e-5)

    def test_uint8_and_float_inputs_agree_and_grayscale_becomes_rgb(self):
        layer = ImagePreprocessor(image_size=16)
        gray = np.full((20, 20, 1), 51, np.uint8)
        out = layer(tf.constant(gray)).numpy()
        self.assertEqual(out.shape, (16, 16, 3))
        self.assertAllClose(out, np.full((16, 16, 3), 0.2), atol=1e-6)
        self.assertAllClose(layer(tf.constant(gray / 255.0, tf.float32)), out, atol=1e-6)

    def test_augmentation_only_when_training(self):
        layer = ImagePreprocessor(
            image_size=32, augment=True, random_translation=0.2, random_contrast=0.5, seed=3
        )
        images = tf.random.uniform((4, 32, 32, 3), seed=1)
        self.assertAllClose(layer(images, training=False), images, atol=1e-5)
        augmented = layer(images, training=True)
        self.assertGreater(float(tf.reduce_max(tf.abs(augmented - images))), 0.05)
        self.assertAllInRange(augmented, 0.0, 1.0)
        self.run_serialization_test(layer)
