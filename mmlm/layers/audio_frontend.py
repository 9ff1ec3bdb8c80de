"""Raw waveform → normalized log-mel spectrogram and its patch validity, in the graph."""

from mmlm.backend import keras, register, tf
from mmlm.layers.config_fields import with_fields
from mmlm.layers.log_mel_spectrogram import LogMelSpectrogram
from mmlm.layers.patch_embedding import patch_mask_from_frames


@register
class AudioFrontend(keras.layers.Layer):
    """Log-mel spectrogram of a padded waveform, standardized, with frame and patch masks.

    Runs in float32 under mixed precision (the dB conversion needs it). The standardization is a
    fixed affine map (`(dB - spectrogram_mean) / spectrogram_std`), so the same numbers come out
    at training, in a SavedModel and on a device.

    Args:
        log_mel: `LogMelSpectrogram` arguments (dict).
        patch_size: side of the spectrogram patches the patch mask is computed for.
        spectrogram_mean, spectrogram_std: the standardization constants (dB).

    Call arguments:
        audio: (B, S) float waveform in [-1, 1].
        audio_padding_mask: (B, S) bool, True for real samples.

    Returns:
        dict: `spectrogram` (B, T, M) standardized log-mel, `log_mel` (B, T, M) in dB,
        `frame_mask` (B, T), `patch_mask` (B, N) (valid patches, time-major).

    Example:
    >>> frontend = AudioFrontend({"sample_rate": 16000}, patch_size=16)
    >>> frontend(tf.zeros((1, 16000)), tf.ones((1, 16000), bool))["patch_mask"].shape
    TensorShape([1, 30])
    """

    def __init__(self, log_mel, patch_size, spectrogram_mean=-20.0, spectrogram_std=20.0, **kw):
        kw["dtype"] = "float32"
        super().__init__(**kw)
        self.log_mel = dict(log_mel)
        self.patch_size = patch_size
        self.spectrogram_mean = spectrogram_mean
        self.spectrogram_std = spectrogram_std
        self.log_mel_spectrogram = LogMelSpectrogram(**self.log_mel, name="log_mel_spectrogram")

    @property
    def mel_patches(self):
        """Patches along the mel axis."""
        return self.log_mel_spectrogram.num_mel_bins // self.patch_size

    def patch_grid(self, num_samples):
        """(time, mel) patches of a `num_samples` waveform; patches are time-major."""
        frames = self.log_mel_spectrogram.num_frames(num_samples)
        return frames // self.patch_size, self.mel_patches

    def num_patches(self, num_samples):
        time_patches, mel_patches = self.patch_grid(num_samples)
        return time_patches * mel_patches

    def call(self, audio, audio_padding_mask):
        audio = tf.cast(audio, tf.float32)
        log_mel = self.log_mel_spectrogram(audio, mask=audio_padding_mask)  # (B, T, M)
        frame_mask = self.log_mel_spectrogram.compute_mask(audio, audio_padding_mask)  # (B, T)
        return {
            "spectrogram": (log_mel - self.spectrogram_mean) / self.spectrogram_std,
            "log_mel": log_mel,
            "frame_mask": frame_mask,
            "patch_mask": patch_mask_from_frames(frame_mask, self.patch_size, self.mel_patches),
        }

    def get_config(self):
        return with_fields(
            super().get_config(),
            self,
            ("log_mel", "patch_size", "spectrogram_mean", "spectrogram_std"),
        )
