"""Image and WAV files decoded in the graph, within limits checked before decoding.

A PNG of a few kilobytes can declare 12000 x 12000 pixels and decode to 430 MB, so the bytes
signatures read the width and height from the file's header (PNG's IHDR, JPEG's SOF through
`tf.image.extract_jpeg_shape`, BMP's info header) and fail with an `InvalidArgumentError`
naming the limit before any pixel is decoded. Only standard TensorFlow ops are used, so an
export stays loadable by TensorFlow Serving.

GIF (and WebP, JPEG XL) are refused: TensorFlow's GIF decoder decodes every frame, whose sizes
are spread through the file, before anything can be checked.
"""

from mmlm.backend import tf

ACCEPTED_FORMATS = "PNG, JPEG or BMP"
_PNG = b"\x89PNG\r\n\x1a\n"
_JPEG = b"\xff\xd8\xff"
_BMP = b"BM"
_HEADER_BYTES = 26  # the BMP info header's height ends here; PNG's IHDR size at 24


def _substr(data, offset, size):
    """`size` bytes of `data` from `offset`, zero-padded where `data` is shorter."""
    head = tf.strings.substr(data, 0, offset + size)  # no error when `data` is shorter
    padded = tf.strings.join([head, b"\0" * (offset + size)])
    return tf.strings.substr(padded, offset, size)


def _header(data):
    """The first `_HEADER_BYTES` bytes of `data` (zero-padded) as (_HEADER_BYTES,) int64."""
    return tf.cast(tf.io.decode_raw(_substr(data, 0, _HEADER_BYTES), tf.uint8), tf.int64)


def _unsigned(header, offset, size, big_endian):
    digits = header[offset : offset + size]
    digits = digits if big_endian else digits[::-1]
    value = tf.constant(0, tf.int64)
    for i in range(size):
        value = value * 256 + digits[i]
    return value


def image_size(data):
    """(width, height) int64 of a PNG, JPEG or BMP file read from its header, or (-1, -1) for
    other data. Decodes nothing; invalid JPEG headers raise `InvalidArgumentError`."""
    header = _header(data)

    def png():
        return _unsigned(header, 16, 4, True), _unsigned(header, 20, 4, True)

    def jpeg():
        shape = tf.cast(tf.image.extract_jpeg_shape(data), tf.int64)  # (height, width, channels)
        return shape[1], shape[0]

    def bmp():  # int32 little-endian; a negative height means rows stored top-down
        sizes = [_unsigned(header, offset, 4, False) for offset in (18, 22)]
        width, height = [tf.abs(tf.where(x >= 2**31, x - 2**32, x)) for x in sizes]
        return width, height

    def other():
        return tf.constant(-1, tf.int64), tf.constant(-1, tf.int64)

    def starts_with(magic):
        return tf.equal(tf.strings.substr(data, 0, len(magic)), magic)

    # A PNG starts with its IHDR chunk (bytes 12-15), which holds the size.
    is_png = tf.logical_and(starts_with(_PNG), tf.equal(_substr(data, 12, 4), b"IHDR"))
    return tf.case(
        [(is_png, png), (starts_with(_JPEG), jpeg), (starts_with(_BMP), bmp)],
        default=other,
        exclusive=False,
    )


def check_image_size(data, max_pixels):
    """An assert op failing with `InvalidArgumentError` when `data` is not PNG, JPEG or BMP, or
    its header declares more than `max_pixels` pixels."""
    width, height = image_size(data)
    known = tf.debugging.Assert(
        width >= 0,
        [f"image_bytes: not a {ACCEPTED_FORMATS} file (GIF, WebP and others are refused)"],
    )
    with tf.control_dependencies([known]):
        pixels = width * height
        message = tf.strings.format(
            "image_too_large: {} x {} = {} pixels, over the limit of {} (data.image.max_pixels "
            "of the export); refused before decoding",
            (width, height, pixels, max_pixels),
        )
        return tf.debugging.Assert(pixels <= max_pixels, [message])


def decode_image(data, max_pixels):
    """(H, W, 3) uint8 of a PNG, JPEG or BMP file (scalar string), its size checked first."""
    with tf.control_dependencies([check_image_size(data, max_pixels)]):
        return tf.io.decode_image(data, channels=3, expand_animations=False)
