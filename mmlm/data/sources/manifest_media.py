"""Decoding a manifest's image and audio files into what ingestion stores (docs/manifest.md).

Files are decoded by their content, whatever their extension says, and checked against the
`MediaLimits` from their header before anything is decoded. Every problem raises a `MediaError`
whose `reason` is one of the manifest reasons (`corrupt_image`, `truncated_audio`, ...). Free
of TensorFlow.
"""

import os
import struct
import zlib

import librosa
import numpy as np
import soundfile
from PIL import Image

from mmlm.data import media_checks
from mmlm.data.media_checks import MediaError

# Tools that stream a WAV to a pipe cannot know its length and write a placeholder data size
# (espeak-ng --stdout writes 0x7ffff000, others 0xffffffff); such a size is not a truncation.
_STREAMED_WAV_SIZE = 0x7FFF0000
# PIL reports undecodable or truncated files through all of these.
_IMAGE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error)


def load_image(path, image_size, max_pixels):
    """An image file as RGB uint8 (image_size, image_size, 3), alpha composited over white.

    Returns:
        (pixels, Pillow's name of the format found, e.g. "PNG").
    Raises:
        MediaError: `image_too_large` (from the header, before decoding) or `corrupt_image`.
    """
    try:
        with media_checks.open_image(path, max_pixels) as image:
            image_format = image.format
            image.verify()  # checks PNG chunk CRCs and a missing end, which load() tolerates
        with media_checks.open_image(path, max_pixels) as image:
            image.load()
            rgb = _to_rgb(image)
    except MediaError:
        raise
    except _IMAGE_ERRORS as error:
        detail = f"cannot decode image: {type(error).__name__}: {error}"
        raise MediaError("corrupt_image", detail) from None
    rgb = rgb.resize((image_size, image_size), Image.Resampling.BILINEAR)
    return np.asarray(rgb, dtype=np.uint8), image_format


def _to_rgb(image):
    if image.mode.startswith("I"):
        # 16-bit grayscale: PIL's convert() clips at 255 instead of rescaling, so scale here.
        values = np.asarray(image, dtype=np.float64) / 257.0
        image = Image.fromarray(np.clip(np.rint(values), 0, 255).astype(np.uint8), "L")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")


def load_audio(path, sample_rate, max_seconds):
    """An audio file as mono int16 at `sample_rate` (sample x 32768, clipped to int16).

    Returns:
        (samples (N,), how many samples were outside [-1, 1], soundfile's format name).
    Raises:
        MediaError: `audio_too_long` (from the header, before decoding), `unreadable_audio`,
            `truncated_audio`, `empty_audio` or `nonfinite_audio`.
    """
    try:
        info = soundfile.info(path)
        media_checks.check_audio_duration(info.frames, info.samplerate, max_seconds)
        if info.format in ("WAV", "WAVEX"):
            _check_wav_length(path)
        data, file_rate = soundfile.read(path, dtype="float32", always_2d=True)  # (N, C)
    except (soundfile.SoundFileError, RuntimeError) as error:
        detail = f"soundfile cannot read it: {error} (corrupt, truncated or unsupported format)"
        raise MediaError("unreadable_audio", detail) from None
    if len(data) < info.frames:
        detail = f"the header declares {info.frames} frames but only {len(data)} could be read"
        raise MediaError("truncated_audio", detail)
    if len(data) == 0 and "ended unexpectedly" in info.extra_info:  # libsndfile's Ogg log
        raise MediaError("truncated_audio", "the Ogg stream ends unexpectedly")
    if len(data) == 0:
        raise MediaError("empty_audio", "the file holds no samples")
    if not np.isfinite(data).all():
        raise MediaError("nonfinite_audio", "the samples contain NaN or inf")
    mono = data.mean(axis=1)  # (N,)
    if file_rate != sample_rate:
        mono = librosa.resample(mono, orig_sr=file_rate, target_sr=sample_rate, res_type="soxr_hq")
    num_clipped = int(np.count_nonzero(np.abs(mono) > 1.0))
    # x 32768 so that 16-bit files at the target rate come back bit-exact.
    samples = np.clip(np.rint(mono * 32768.0), -32768, 32767).astype(np.int16)
    return samples, num_clipped, info.format


def _check_wav_length(path):
    """Raises truncated_audio if the WAV's data chunk declares more bytes than the file holds.

    libsndfile quietly shortens `info.frames` to the bytes present, so comparing frames read
    with frames declared cannot see a WAV that lost its end.
    """
    file_size = os.path.getsize(path)
    with open(path, "rb") as f:
        header = f.read(12)
        if len(header) < 12 or header[:4] != b"RIFF" or header[8:] != b"WAVE":
            return
        offset = 12
        while offset + 8 <= file_size:
            f.seek(offset)
            chunk_id, size = struct.unpack("<4sI", f.read(8))
            if chunk_id == b"data":
                available = file_size - offset - 8
                if available < size < _STREAMED_WAV_SIZE:
                    raise MediaError(
                        "truncated_audio",
                        f"the data chunk declares {size} bytes but the file holds {available}",
                    )
                return
            offset += 8 + size + (size & 1)  # chunks are padded to even sizes
