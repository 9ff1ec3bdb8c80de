"""Image sizes read from PNG, JPEG and BMP headers in the graph, checked before decoding."""

import struct

import numpy as np

from mmlm.backend import tf
from mmlm.serving.image_decoding import decode_image, image_size
from mmlm.testing import TestCase
from mmlm.testing.media import bomb_png, image_bytes

_STRING = tf.TensorSpec([], tf.string)


@tf.function(input_signature=[_STRING])
def _size(data):
    return image_size(data)


@tf.function(input_signature=[_STRING])
def _decode(data):
    return decode_image(data, max_pixels=1000)


class ImageDecodingTest(TestCase):
    def size(self, data):
        return tuple(int(x) for x in _size(data))

    def decode(self, data):
        return _decode(data).numpy()

    def assertRefused(self, data, message):
        with self.assertRaisesRegex(tf.errors.InvalidArgumentError, message):
            self.decode(data)

    def test_sizes_come_from_the_header(self):
        for image_format in ("PNG", "JPEG", "BMP"):
            with self.subTest(image_format):
                data = image_bytes(image_format, size=(7, 5))
                self.assertEqual((7, 5), self.size(data))
                self.assertEqual((5, 7, 3), tuple(self.decode(data).shape))
        self.assertEqual((12000, 12000), self.size(bomb_png()))
        top_down = bytearray(image_bytes("BMP", size=(9, 4)))
        top_down[22:26] = struct.pack("<i", -4)  # a negative height: rows stored top-down
        self.assertEqual((9, 4), self.size(bytes(top_down)))
        for other in (image_bytes("GIF"), image_bytes("WEBP"), b"\x89PNG", b""):
            self.assertEqual((-1, -1), self.size(other))

    def test_images_over_the_limit_are_refused_before_decoding(self):
        self.assertRefused(
            bomb_png(),
            r"image_too_large: 12000 x 12000 = 144000000 pixels, over the limit of 1000 "
            r"\(data.image.max_pixels of the export\); refused before decoding",
        )
        self.assertRefused(image_bytes("JPEG", size=(40, 30)), "40 x 30 = 1200 pixels")
        np.testing.assert_array_equal(
            self.decode(image_bytes("PNG", size=(40, 25), colour=(1, 2, 3))),
            np.broadcast_to([1, 2, 3], (25, 40, 3)),
        )

    def test_formats_whose_size_cannot_be_checked_are_refused(self):
        for data in (image_bytes("GIF"), image_bytes("WEBP"), b"not an image", b""):
            with self.subTest(data=data[:8]):
                self.assertRefused(data, "image_bytes: not a PNG, JPEG or BMP file")
