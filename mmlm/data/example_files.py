"""Examples of a prepared split written as ordinary files (PNG, 16-bit WAV, caption text).

What a user would feed to `mmlm tflite-run`, the SavedModel's `*_bytes`/`*_wav` signatures or
`mmlm serve`: real files rather than arrays.
"""

import logging
import os
import wave

import numpy as np

from mmlm.config.data import DEFAULT_MAX_AUDIO_SECONDS, DEFAULT_MAX_PIXELS
from mmlm.data import media_checks
from mmlm.data.errors import MediaFileError
from mmlm.data.media_checks import MediaLimitError

logger = logging.getLogger(__name__)


def write_example_files(dataset, out_dir, count, sample_rate):
    """Writes `count` examples of an unbatched-able `dataset` (batches with `images`, `audio`,
    `audio_padding_mask` and `text`) to `out_dir` as `NAME.png`, `NAME.wav` and `NAME.txt`.

    Returns:
        The list of written example names (`split_index`).
    """
    from PIL import Image

    os.makedirs(out_dir, exist_ok=True)
    names = []
    for index, example in enumerate(dataset.unbatch().take(count)):
        name = f"example_{index}"
        pixels = np.round(np.clip(example["images"].numpy(), 0.0, 1.0) * 255).astype(np.uint8)
        Image.fromarray(pixels).save(os.path.join(out_dir, f"{name}.png"))
        length = int(np.sum(example["audio_padding_mask"].numpy()))
        samples = np.clip(example["audio"].numpy()[:length], -1.0, 1.0)
        with wave.open(os.path.join(out_dir, f"{name}.wav"), "wb") as f:
            f.setnchannels(1)
            f.setsampwidth(2)
            f.setframerate(sample_rate)
            f.writeframes(np.round(samples * 32767).astype("<i2").tobytes())
        with open(os.path.join(out_dir, f"{name}.txt"), "w", encoding="utf-8") as f:
            f.write(example["text"].numpy().decode("utf-8") + "\n")
        names.append(name)
    return names


def read_image_file(path, max_pixels=DEFAULT_MAX_PIXELS):
    """(H, W, 3) uint8 pixels of an image file (PNG, JPEG, ...; converted to RGB).

    The file is decoded by its content; an extension naming another format is logged. Its
    pixel count is read from the header and checked before decoding.

    Raises:
        MediaFileError: if it is not a readable image, or has more than `max_pixels` pixels
            (the message then starts with `image_too_large`).
    """
    from PIL import UnidentifiedImageError

    try:
        with media_checks.open_image(path, max_pixels) as image:
            _log_mismatch(media_checks.image_extension_mismatch(path, image.format), path)
            return np.asarray(image.convert("RGB"))
    except MediaLimitError as error:
        raise MediaFileError(f"{path}: {error}") from None
    except (UnidentifiedImageError, OSError) as error:
        raise MediaFileError(f"{path}: not a readable image file ({error})") from error


def read_audio_file(path, sample_rate, max_seconds=DEFAULT_MAX_AUDIO_SECONDS):
    """(N,) float32 mono waveform of an audio file (WAV, FLAC, ...) resampled to `sample_rate`.

    Its length is checked before decoding: from the header when soundfile can read it, else
    by decoding at most `max_seconds` (and a little more) of it.

    Raises:
        MediaFileError: if it is not a readable audio file, or is longer than `max_seconds`
            (the message then starts with `audio_too_long`).
    """
    import librosa
    import soundfile

    try:
        info = soundfile.info(path)
    except (soundfile.LibsndfileError, RuntimeError, OSError):
        info = None  # a format only librosa's other decoders read: bounded by `duration`
    try:
        if info is not None:
            _log_mismatch(media_checks.audio_extension_mismatch(path, info.format), path)
            media_checks.check_audio_duration(info.frames, info.samplerate, max_seconds)
            waveform, _ = librosa.load(path, sr=sample_rate, mono=True)
        else:
            waveform, _ = librosa.load(path, sr=sample_rate, mono=True, duration=max_seconds + 1)
            media_checks.check_audio_duration(len(waveform), sample_rate, max_seconds)
    except MediaLimitError as error:
        raise MediaFileError(f"{path}: {error}") from None
    except (soundfile.LibsndfileError, EOFError, OSError) as error:
        raise MediaFileError(f"{path}: not a readable audio file ({error})") from error
    return waveform.astype(np.float32)


def _log_mismatch(mismatch, path):
    if mismatch:
        logger.warning("%s: %s: %s", path, media_checks.EXTENSION_MISMATCH, mismatch)
