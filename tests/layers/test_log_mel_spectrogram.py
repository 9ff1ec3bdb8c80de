"""Tests for `LogMelSpectrogram`, with librosa as the independent reference.

Parity: librosa `melspectrogram(window="hann", center=True, pad_mode="constant", power=2.0)` then
`power_to_db(ref=1.0, amin=1e-10, top_db=80.0)`. Measured max |diff| (TF 2.21, librosa 0.11):
about 0.004 dB over all bins on tones (22,050 Hz sine), 0.001 dB on espeak-ng speech, and
below 0.0004 dB on bins within 60 dB of the maximum. The asserted tolerances keep a 2.5-3x margin;
a symmetric instead of periodic window or an off-by-one frame alignment breaks them.
"""

import os
import shutil
import subprocess
import tempfile

import numpy as np

from mmlm.backend import keras, tf
from mmlm.layers.log_mel_spectrogram import LogMelSpectrogram
from mmlm.testing import TestCase

PARITY_TOLERANCE_DB = 0.01  # max |diff| over all bins
LOUD_PARITY_TOLERANCE_DB = 0.001  # max |diff| over bins within LOUD_RANGE_DB of the maximum
LOUD_RANGE_DB = 60.0


def librosa_log_mel(
    y, sr, n_fft=400, win_length=400, hop_length=160, n_mels=80, fmin=0.0, fmax=None, htk=False
):
    """The reference: (frames, n_mels) dB; `htk` uses unit-peak filters like the layer."""
    import librosa

    power = librosa.feature.melspectrogram(
        y=y,
        sr=sr,
        n_fft=n_fft,
        hop_length=hop_length,
        win_length=win_length,
        window="hann",
        center=True,
        pad_mode="constant",
        power=2.0,
        n_mels=n_mels,
        fmin=fmin,
        fmax=fmax,
        htk=htk,
        norm=None if htk else "slaney",
    )
    return librosa.power_to_db(power, ref=1.0, amin=1e-10, top_db=80.0).T


def tones(sample_rate, seconds=1.3):
    t = np.arange(int(sample_rate * seconds)) / sample_rate
    noise = np.random.default_rng(0).standard_normal(t.size)
    return {
        "sine_440": 0.5 * np.sin(2 * np.pi * 440.0 * t),
        "sine_3k": 0.3 * np.sin(2 * np.pi * 3000.0 * t),
        "chirp": 0.5 * np.sin(2 * np.pi * (100.0 * t + 1500.0 * t**2)),
        "noise": 0.1 * noise,
    }


def espeak_speech(sample_rate):
    """Synthesized English speech resampled to `sample_rate`, float32 (N,)."""
    import librosa
    import soundfile

    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "speech.wav")
        text = "The quick brown fox jumps over the lazy dog. She sells sea shells."
        subprocess.run(
            ["espeak-ng", "-v", "en-us+f3", "-s", "170", "-w", path, text],
            check=True,
            capture_output=True,
        )
        speech, espeak_rate = soundfile.read(path, dtype="float32")
    return librosa.resample(speech, orig_sr=espeak_rate, target_sr=sample_rate).astype(np.float32)


class LogMelSpectrogramTest(TestCase):
    def assertParity(self, waveform, sample_rate, fft_length=400, frame_length=400, **kwargs):
        mel_scale = kwargs.pop("mel_scale", "slaney")
        layer = LogMelSpectrogram(
            sample_rate=sample_rate,
            fft_length=fft_length,
            frame_length=frame_length,
            mel_scale=mel_scale,
            **kwargs,
        )
        expected = librosa_log_mel(
            waveform,
            sample_rate,
            n_fft=fft_length,
            win_length=frame_length,
            n_mels=kwargs.get("num_mel_bins", 80),
            fmin=kwargs.get("lower_edge_hertz", 0.0),
            fmax=kwargs.get("upper_edge_hertz"),
            htk=mel_scale == "htk",
        )
        actual = layer(waveform).numpy()
        self.assertEqual(expected.shape, actual.shape)
        diff = np.abs(actual - expected)
        loud = expected > expected.max() - LOUD_RANGE_DB
        self.assertGreater(loud.mean(), 0.05)  # The loud subset is not empty or trivial.
        self.assertLess(diff.max(), PARITY_TOLERANCE_DB)
        self.assertLess(diff[loud].max(), LOUD_PARITY_TOLERANCE_DB)

    def test_layer(self):
        waveform = tf.random.normal((2, 16000), stddev=0.1)
        self.run_layer_test(LogMelSpectrogram(), waveform, expected_output_shape=(2, 101, 80))

    def test_parity_speech(self):
        # espeak-ng is a setup requirement (tools/setup.sh): missing, this test must fail.
        self.assertIsNotNone(
            shutil.which("espeak-ng"), "espeak-ng missing: apt-get install espeak-ng"
        )
        speech = espeak_speech(16000)
        self.assertGreater(speech.size, 16000)
        self.assertParity(speech, 16000)  # DFT-matmul path (fft_length 400).
        self.assertParity(speech, 16000, fft_length=512, num_mel_bins=128)  # rfft path.
        self.assertParity(speech, 16000, mel_scale="htk")

    def test_parity_tones(self):
        for sample_rate in (16000, 22050):
            for name, waveform in tones(sample_rate).items():
                for fft_length in (400, 512):
                    with self.subTest(sample_rate=sample_rate, signal=name, fft=fft_length):
                        self.assertParity(waveform.astype(np.float32), sample_rate, fft_length)

    def test_parity_htk_band_limited(self):
        for name, waveform in tones(16000).items():
            with self.subTest(signal=name):
                self.assertParity(
                    waveform.astype(np.float32),
                    16000,
                    fft_length=512,
                    frame_length=512,
                    mel_scale="htk",
                    lower_edge_hertz=20.0,
                    upper_edge_hertz=7000.0,
                    num_mel_bins=64,
                )

    def test_num_frames_and_output_shape(self):
        for center in (True, False):
            layer = LogMelSpectrogram(center=center, num_mel_bins=16)
            for num_samples in (400, 401, 1600, 1759):
                frames = layer(tf.zeros((1, num_samples))).shape[1]
                self.assertEqual(layer.num_frames(num_samples), frames)
                self.assertEqual(int(layer.num_frames(tf.constant(num_samples))), frames)
                self.assertEqual(
                    layer.compute_output_shape((3, num_samples)).as_list(), [3, frames, 16]
                )
        self.assertEqual(LogMelSpectrogram().num_frames(16000), 101)  # librosa: 1 + N // hop.

    def test_mask_matches_unpadded_example(self):
        layer = LogMelSpectrogram()
        rng = np.random.default_rng(1)
        lengths = [4799, 7999, 1234]
        waveform = rng.standard_normal((3, 8000)).astype(np.float32)
        mask = np.arange(8000)[None, :] < np.array(lengths)[:, None]
        # Loud garbage in the padding must change nothing: it is zeroed and excluded from top_db.
        padded = np.where(mask, 0.01 * waveform, 100.0).astype(np.float32)
        # A click just before the end of row 0 is 18 dB louder in the first padding frame
        # (centred on sample 4800) than in the last valid one (4640): top_db must ignore it.
        padded[0, 4790:4799] = 300.0
        outputs = layer(padded, mask=mask)
        frame_mask = layer.compute_mask(padded, tf.constant(mask)).numpy()
        self.assertAllEqual(outputs._keras_mask, frame_mask)
        for row, length in enumerate(lengths):
            expected_mask = np.arange(layer.num_frames(8000)) * 160 < length
            self.assertAllEqual(expected_mask, frame_mask[row])
            # Frames centred on real samples see the same samples (zeros beyond) as the cropped
            # example; none of these lengths is a multiple of frame_step, so the frame sets match.
            alone = layer(padded[row, :length]).numpy()
            self.assertEqual(alone.shape[0], expected_mask.sum())
            self.assertAllClose(alone, outputs[row][expected_mask], atol=1e-4)

    def test_unbatched_mask(self):
        layer = LogMelSpectrogram()
        mask = tf.range(3000) < 1000
        self.assertAllEqual(layer.compute_mask(tf.zeros(3000), mask), tf.range(19) * 160 < 1000)
        self.assertEqual(layer(tf.zeros(3000), mask=mask).shape, (19, 80))

    def test_top_db_and_ref(self):
        waveform = np.float32(0.5) * np.sin(np.arange(4000) * 0.3).astype(np.float32)
        floored = LogMelSpectrogram(top_db=30.0)(waveform).numpy()
        self.assertAllClose(floored.min(), floored.max() - 30.0, atol=1e-4)
        plain = LogMelSpectrogram(top_db=None)(waveform).numpy()
        shifted = LogMelSpectrogram(top_db=None, ref=10.0)(waveform).numpy()
        self.assertAllClose(plain - 10.0, shifted, atol=1e-4)
        self.assertLess(plain.min(), plain.max() - 80.0)

    def test_mixed_bfloat16_stays_float32(self):
        waveform = tf.random.normal((2, 4000), stddev=0.1)
        expected = LogMelSpectrogram()(waveform)
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
        self.addCleanup(keras.mixed_precision.set_global_policy, "float32")
        layer = LogMelSpectrogram()
        self.assertEqual(layer.compute_dtype, "float32")
        inputs = keras.Input((4000,))
        model = keras.Model(inputs, LogMelSpectrogram()(keras.layers.Dense(4000)(inputs)))
        self.assertEqual(model.output.dtype, tf.float32)
        actual = layer(tf.cast(waveform, tf.bfloat16))
        self.assertEqual(actual.dtype, tf.float32)
        self.assertAllClose(expected, layer(waveform), atol=1e-5)
        # bf16 input is upcast, so only its own rounding shows up.
        self.assertLess(np.abs(actual - expected).mean(), 1.0)

    def test_invalid_arguments(self):
        with self.assertRaisesRegex(ValueError, "mel_scale"):
            LogMelSpectrogram(mel_scale="mel")
        with self.assertRaisesRegex(ValueError, "frame_length"):
            LogMelSpectrogram(fft_length=256, frame_length=400)
        with self.assertRaisesRegex(ValueError, "upper_edge_hertz"):
            LogMelSpectrogram(upper_edge_hertz=9000.0)
