"""Checks made on a user's media file before it is decoded: size limits and extension.

Every reader of user files (manifest ingestion, the command line's image and audio files,
`mmlm tflite-run`) goes through these, so an input is refused the same way everywhere: a
12000 x 12000 PNG of a few kilobytes would decode to 430 MB, so its pixel count is read from
the header and checked before any pixel is decoded. The SavedModel's bytes signatures check the
same limits in the graph (`mmlm.serving.image_decoding`). Free of TensorFlow.
"""

import dataclasses
import os
import warnings

from PIL import Image

from mmlm.config.data import (
    DEFAULT_MAX_AUDIO_SECONDS,
    DEFAULT_MAX_PIXELS,
    DEFAULT_MAX_TEXT_BYTES,
)

IMAGE_TOO_LARGE = "image_too_large"
AUDIO_TOO_LONG = "audio_too_long"
TEXT_TOO_LONG = "text_too_long"
EXTENSION_MISMATCH = "extension_mismatch"

# Container formats soundfile reports for each audio extension (others are not checked).
_AUDIO_FORMATS = {
    ".wav": ("WAV", "WAVEX", "RF64"),
    ".flac": ("FLAC",),
    ".ogg": ("OGG",),
    ".oga": ("OGG",),
    ".opus": ("OGG",),
    ".mp3": ("MP3",),
    ".aif": ("AIFF",),
    ".aiff": ("AIFF",),
    ".au": ("AU",),
    ".caf": ("CAF",),
    ".w64": ("W64",),
}
# Pillow formats that are a variant of the one their extension names.
_IMAGE_VARIANTS = {"MPO": "JPEG"}  # multi-picture JPEG, as some cameras write


@dataclasses.dataclass(frozen=True)
class MediaLimits:
    """Sizes past which a user's input is refused instead of decoded.

    Built from `data.image.max_pixels`, `data.audio.max_seconds` and `data.text.max_bytes`
    (`MediaLimits.from_config`); the defaults are those of the config.

    Attributes:
        max_pixels: images with more pixels (width x height from the header) are refused
            (`image_too_large`).
        max_audio_seconds: audio longer than this (frames / rate from the header) is refused
            (`audio_too_long`).
        max_text_bytes: captions longer than this many UTF-8 bytes are refused (`text_too_long`).
    """

    max_pixels: int = DEFAULT_MAX_PIXELS
    max_audio_seconds: float = DEFAULT_MAX_AUDIO_SECONDS
    max_text_bytes: int = DEFAULT_MAX_TEXT_BYTES

    @classmethod
    def from_config(cls, config):
        """The limits of a `DataConfig`."""
        return cls(
            max_pixels=config.image.max_pixels,
            max_audio_seconds=config.audio.max_seconds,
            max_text_bytes=config.text.max_bytes,
        )

    def __post_init__(self):
        for name in ("max_pixels", "max_audio_seconds", "max_text_bytes"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)!r}")


class MediaError(ValueError):
    """A media file (or caption) that cannot be used, with a reason key of docs/manifest.md.

    Attributes:
        reason: short machine key, e.g. `corrupt_image`.
        detail: what was found, for the user.
    """

    def __init__(self, reason, detail):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class MediaLimitError(MediaError):
    """An input past one of the `MediaLimits`: `reason` is `image_too_large`,
    `audio_too_long` or `text_too_long`, and `detail` names the limit and its config field."""


def check_pixels(width, height, max_pixels, field="data.image.max_pixels"):
    """Raises `MediaLimitError` if a `width` x `height` image has more than `max_pixels`."""
    if width * height > max_pixels:
        raise MediaLimitError(
            IMAGE_TOO_LARGE,
            f"{width} x {height} = {width * height:,} pixels, over the limit of "
            f"{max_pixels:,} ({field}); refused before decoding",
        )


def open_image(path, max_pixels):
    """The PIL image of `path`, opened (header read) but not decoded, within `max_pixels`.

    Pillow's own `DecompressionBombWarning` (past `PIL.Image.MAX_IMAGE_PIXELS`, 89 Mpx) is an
    error here too, so Pillow's limit also applies when `max_pixels` is higher. Use the result
    as a context manager; decoding (`load`, `convert`) is the caller's.

    Raises:
        MediaLimitError: `image_too_large`.
        OSError and the other errors of `PIL.Image.open` for files that are not images.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", Image.DecompressionBombWarning)
        try:
            image = Image.open(path)
        except Image.DecompressionBombError as error:
            raise MediaLimitError(IMAGE_TOO_LARGE, _pillow_refuses(error)) from None
    bombs = [w for w in caught if issubclass(w.category, Image.DecompressionBombWarning)]
    for w in caught:  # others as they would have been shown
        if w not in bombs:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    try:
        check_pixels(*image.size, max_pixels)
        if bombs:
            raise MediaLimitError(IMAGE_TOO_LARGE, _pillow_refuses(bombs[0].message))
    except MediaLimitError:
        image.close()
        raise
    return image


def _pillow_refuses(error):
    return f"Pillow refuses it as a decompression bomb (PIL.Image.MAX_IMAGE_PIXELS): {error}"


def check_audio_duration(frames, sample_rate, max_seconds, field="data.audio.max_seconds"):
    """Raises `MediaLimitError` if `frames` at `sample_rate` last longer than `max_seconds`."""
    if frames > max_seconds * sample_rate:
        raise MediaLimitError(
            AUDIO_TOO_LONG,
            f"{frames / sample_rate:,.1f} s ({frames:,} frames at {sample_rate} Hz), over the "
            f"limit of {max_seconds:g} s ({field}); refused before decoding",
        )


def check_text_size(text, max_bytes, field="data.text.max_bytes"):
    """Raises `MediaLimitError` if `text` is longer than `max_bytes` in UTF-8."""
    size = len(text.encode("utf-8", errors="surrogatepass"))
    if size > max_bytes:
        raise MediaLimitError(
            TEXT_TOO_LONG, f"{size:,} bytes of UTF-8, over the limit of {max_bytes:,} ({field})"
        )


def image_extension_mismatch(path, image_format):
    """What is wrong when `path`'s extension names another format than Pillow found, else None.

    Extensions Pillow does not know (or none) are not checked.
    """
    suffix = os.path.splitext(os.fspath(path))[1].lower()
    named = Image.registered_extensions().get(suffix)
    if named is None or image_format is None:
        return None
    if _IMAGE_VARIANTS.get(named, named) == _IMAGE_VARIANTS.get(image_format, image_format):
        return None
    return _mismatch(suffix, image_format)


def audio_extension_mismatch(path, audio_format):
    """As `image_extension_mismatch`, for soundfile's `info.format` of an audio file."""
    suffix = os.path.splitext(os.fspath(path))[1].lower()
    expected = _AUDIO_FORMATS.get(suffix)
    if expected is None or audio_format in expected:
        return None
    return _mismatch(suffix, audio_format)


def _mismatch(suffix, found):
    return f"the file is named {suffix} but holds {found} data; it was decoded as {found}"
