"""Speech synthesis with the espeak-ng command-line tool."""

import concurrent.futures
import io
import os
import shutil
import subprocess

import librosa
import numpy as np
import soundfile

# mmlm language code -> espeak-ng voice.
ESPEAK_LANGUAGES = {"en": "en-us", "es": "es"}
# espeak-ng voice variants (7 male, 5 female) used for speaker variety.
VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5")
_ESPEAK = "espeak-ng"


def voice_name(language, variant):
    """The espeak-ng voice for a language code and variant: ("en", "f3") -> "en-us+f3"."""
    if language not in ESPEAK_LANGUAGES:
        raise ValueError(
            f"Unknown language {language!r}; expected one of {tuple(ESPEAK_LANGUAGES)}."
        )
    if variant not in VARIANTS:
        raise ValueError(f"Unknown variant {variant!r}; expected one of {VARIANTS}.")
    return f"{ESPEAK_LANGUAGES[language]}+{variant}"


def _espeak_binary():
    path = shutil.which(_ESPEAK)
    if path is None:
        raise RuntimeError("espeak-ng not found: install it with `apt-get install espeak-ng`.")
    return path


def _to_int16(waveform):
    """float waveform in [-1, 1] -> int16, rounded and clipped (resampling can overshoot)."""
    return np.clip(np.round(waveform * 32768.0), -32768, 32767).astype(np.int16)


def _synthesize_one(binary, text, voice, speed, sample_rate):
    # Text goes through stdin, so a caption can never be parsed as a command-line option.
    result = subprocess.run(
        [binary, "-v", voice, "-s", str(int(speed)), "--stdout"],
        input=text.encode("utf-8"),
        capture_output=True,
        check=False,
    )
    if result.returncode != 0 or not result.stdout:
        raise RuntimeError(
            f"espeak-ng failed (exit {result.returncode}) for voice {voice!r}, text {text!r}: "
            f"{result.stderr.decode(errors='replace').strip()}"
        )
    waveform, native_rate = soundfile.read(io.BytesIO(result.stdout), dtype="float32")
    if waveform.ndim != 1 or waveform.size == 0:
        raise RuntimeError(f"espeak-ng returned no mono audio for text {text!r}.")
    if native_rate != sample_rate:
        waveform = librosa.resample(
            waveform, orig_sr=native_rate, target_sr=sample_rate, res_type="soxr_hq"
        )
    return _to_int16(waveform)


def synthesize(texts, voices, speeds, *, sample_rate=16000, max_workers=None):
    """Speaks each text with espeak-ng and returns int16 waveforms at `sample_rate`.

    Subprocesses run in a thread pool; results are returned in input order and do not depend
    on scheduling (espeak-ng is deterministic for a given text, voice and speed).

    Args:
        texts: Sequence of strings to speak.
        voices: One espeak-ng voice per text, e.g. "en-us+f3" (see `voice_name`).
        speeds: One speaking rate per text, in words per minute.
        sample_rate: Output sample rate in Hz; espeak's 22,050 Hz is resampled with soxr_hq.
        max_workers: Thread pool size; defaults to `os.cpu_count()`.

    Returns:
        List of int16 arrays of shape (num_samples,).
    """
    texts, voices, speeds = list(texts), list(voices), list(speeds)
    if not len(texts) == len(voices) == len(speeds):
        raise ValueError(
            f"Need one voice and one speed per text, got {len(texts)} texts, "
            f"{len(voices)} voices, {len(speeds)} speeds."
        )
    if not texts:
        return []
    binary = _espeak_binary()
    with concurrent.futures.ThreadPoolExecutor(max_workers or os.cpu_count()) as pool:
        return list(
            pool.map(
                lambda args: _synthesize_one(binary, *args, sample_rate),
                zip(texts, voices, speeds),
            )
        )
