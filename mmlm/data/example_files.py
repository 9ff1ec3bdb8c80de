"""Examples of a prepared split written as ordinary files (PNG, 16-bit WAV, caption text).

What a user would feed to `mmlm tflite-run`, the SavedModel's `*_bytes`/`*_wav` signatures or
`mmlm serve`: real files rather than arrays.
"""

import os
import wave

import numpy as np

from mmlm.data.errors import MediaFileError


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


def read_image_file(path):
    """(H, W, 3) uint8 pixels of an image file (PNG, JPEG, ...; converted to RGB)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))
    except (UnidentifiedImageError, OSError) as error:
        raise MediaFileError(f"{path}: not a readable image file ({error})") from error


def read_audio_file(path, sample_rate):
    """(N,) float32 mono waveform of an audio file (WAV, FLAC, ...) resampled to `sample_rate`."""
    import librosa
    import soundfile

    try:
        waveform, _ = librosa.load(path, sr=sample_rate, mono=True)
    except (soundfile.LibsndfileError, EOFError, OSError) as error:
        raise MediaFileError(f"{path}: not a readable audio file ({error})") from error
    return waveform.astype(np.float32)
