"""Tests for `AudioPreprocessor`: crop/pad and masks against NumPy, int16 scaling, tf.data."""

import numpy as np

from mmlm.backend import keras, tf
from mmlm.data.preprocessing.audio_preprocessor import AudioPreprocessor
from mmlm.layers.log_mel_spectrogram import LogMelSpectrogram
from mmlm.testing import TestCase

SAMPLE_RATE = 8000
DURATION = 0.5  # max_samples = 4000
LOG_MEL = {"num_mel_bins": 32, "fft_length": 256, "frame_length": 200, "frame_step": 80}


def numpy_fix_length(waveform, max_samples):
    """Reference crop-from-start / zero-pad-at-end and padding mask for one float example."""
    audio = np.zeros(max_samples, np.float32)
    kept = min(len(waveform), max_samples)
    audio[:kept] = waveform[:kept]
    return audio, np.arange(max_samples) < kept


def variable_length_examples():
    rng = np.random.default_rng(0)
    lengths = [1000, 4000, 5500, 3]
    return [rng.integers(-32768, 32768, size=n).astype(np.int16) for n in lengths]


class AudioPreprocessorTest(TestCase):
    def make_layer(self, log_mel=LOG_MEL):
        return AudioPreprocessor(
            sample_rate=SAMPLE_RATE, duration_seconds=DURATION, log_mel=log_mel
        )

    def test_preprocessing_layer_dense(self):
        for num_samples in (3000, 4000, 6001):  # pad, exact, crop
            with self.subTest(num_samples=num_samples):
                examples = tf.random.normal((3, num_samples), stddev=0.1)
                outputs = self.run_preprocessing_layer_test(self.make_layer(), examples)
                self.assertEqual(outputs["audio"].shape, (3, 4000))
                self.assertEqual(outputs["spectrogram"].shape, (3, 51, 32))
                self.assertEqual(outputs["spectrogram_padding_mask"].shape, (3, 51))
                for row in range(3):
                    audio, mask = numpy_fix_length(examples[row].numpy(), 4000)
                    self.assertAllEqual(audio, outputs["audio"][row])
                    self.assertAllEqual(mask, outputs["audio_padding_mask"][row])

    def test_ragged_batches_in_tf_data_match_numpy(self):
        examples = variable_length_examples()
        layer = self.make_layer()
        ragged = tf.ragged.constant(examples, dtype=tf.int16)
        dataset = tf.data.Dataset.from_tensor_slices(ragged)
        batched = next(iter(dataset.batch(8).map(layer)))
        unbatched = list(dataset.map(layer))
        self.assertAllCloseNested(layer(ragged), batched)
        frame_centres = np.arange(LogMelSpectrogram(**LOG_MEL).num_frames(4000)) * 80
        for row, example in enumerate(examples):
            audio, mask = numpy_fix_length(example / 32768.0, 4000)
            self.assertAllClose(audio, batched["audio"][row], rtol=0, atol=1e-7)
            self.assertAllEqual(mask, batched["audio_padding_mask"][row])
            self.assertAllEqual(
                frame_centres < min(len(example), 4000), batched["spectrogram_padding_mask"][row]
            )
            self.assertAllCloseNested(
                tf.nest.map_structure(lambda t: t[row], batched), unbatched[row], atol=1e-4
            )

    def test_int16_scaling(self):
        samples = np.array([-32768, -16384, 0, 1, 32767], np.int16)
        audio = self.make_layer(log_mel=None)(samples)["audio"].numpy()
        self.assertAllEqual([-1.0, -0.5, 0.0, 1.0 / 32768, 32767.0 / 32768], audio[:5])
        self.assertEqual(audio.dtype, np.float32)
        floats = self.make_layer(log_mel=None)(np.array([0.25, -2.0], np.float64))["audio"]
        self.assertAllEqual([0.25, -2.0], floats[:2])  # Floats are used as they are.
        with self.assertRaisesRegex(TypeError, "int16 or float"):
            self.make_layer(log_mel=None)(np.array([1, 2], np.int32))

    def test_spectrogram_matches_log_mel_layer(self):
        waveform = np.random.default_rng(2).standard_normal(2500).astype(np.float32) * 0.1
        outputs = self.make_layer()(waveform)
        self.assertEqual(
            sorted(outputs),
            sorted(["audio", "audio_padding_mask", "spectrogram", "spectrogram_padding_mask"]),
        )
        log_mel = LogMelSpectrogram(sample_rate=SAMPLE_RATE, **LOG_MEL)
        alone = log_mel(waveform).numpy()  # 1 + 2500 // 80 = 32 frames, all valid.
        self.assertEqual(int(np.sum(outputs["spectrogram_padding_mask"])), alone.shape[0])
        self.assertAllClose(alone, outputs["spectrogram"][: alone.shape[0]], atol=1e-4)

    def test_without_log_mel(self):
        outputs = self.make_layer(log_mel=None)(tf.ones((2, 10)))
        self.assertEqual(sorted(outputs), ["audio", "audio_padding_mask"])
        self.assertEqual(AudioPreprocessor(duration_seconds=8.0).max_samples, 128000)

    def test_mixed_bfloat16_stays_float32(self):
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
        self.addCleanup(keras.mixed_precision.set_global_policy, "float32")
        waveform = np.float32([0.1234567, -0.7654321])
        outputs = self.make_layer()(waveform)
        self.assertEqual(outputs["audio"].dtype, tf.float32)
        self.assertEqual(outputs["spectrogram"].dtype, tf.float32)
        self.assertAllEqual(waveform, outputs["audio"][:2])  # No bf16 rounding.

    def test_serialization_keeps_log_mel(self):
        layer = self.make_layer()
        revived = self.run_serialization_test(layer)
        self.assertEqual(LOG_MEL, revived.log_mel)
        self.assertEqual("log_mel", revived.log_mel_spectrogram.name)
        with self.assertRaisesRegex(ValueError, "sample_rate"):
            AudioPreprocessor(sample_rate=16000, log_mel={"sample_rate": 8000})
