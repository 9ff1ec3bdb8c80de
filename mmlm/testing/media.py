"""Media files that attack or mislead readers, made cheaply for tests."""

import io
import struct
import zlib


def bomb_png(width=12000, height=12000):
    """A valid 1-bit grayscale PNG of `width` x `height` black pixels, a decompression bomb.

    The default 12000 x 12000 (144 Mpx, 430 MB as RGB) compresses to about 18 KB and is
    written in a few tens of milliseconds, without ever holding the pixels in memory.
    """

    def chunk(kind, data):
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1 bit, gray, no interlace
    row = b"\0" * (1 + (width + 7) // 8)  # filter byte + packed pixels
    compressor = zlib.compressobj(9)
    data = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )


def image_bytes(image_format, size=(7, 5), colour=(10, 200, 30)):
    """A `size` (width, height) image of one `colour` encoded by Pillow ("PNG", "JPEG", ...)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, image_format)
    return buffer.getvalue()


def header_bomb(image_format, width=12000, height=12000):
    """A small JPEG or BMP whose header declares `width` x `height` pixels: what a size check
    reading the header must refuse (its pixel data is that of a 7 x 5 image)."""
    data = bytearray(image_bytes(image_format))
    if image_format == "JPEG":
        sof = data.index(b"\xff\xc0")  # baseline frame header: length, precision, height, width
        data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    elif image_format == "BMP":
        data[18:26] = struct.pack("<ii", width, height)  # BITMAPINFOHEADER width, height
    else:
        raise ValueError(f"header_bomb makes JPEG or BMP files, not {image_format}")
    return bytes(data)
