"""Log-mel spectrogram frontend computed in the TF graph.

The numbers follow librosa (`melspectrogram(center=True, pad_mode="constant")` then
`power_to_db`), which the tests use as the independent reference; librosa is not imported here.
"""

import math

import numpy as np

from mmlm.backend import keras, register, tf
from mmlm.layers.config_fields import with_fields

_MEL_SCALES = ("slaney", "htk")

# Slaney's Auditory Toolbox mel scale: linear below 1 kHz, logarithmic above (librosa default).
_SLANEY_HZ_PER_MEL = 200.0 / 3.0
_SLANEY_MIN_LOG_HZ = 1000.0
_SLANEY_MIN_LOG_MEL = _SLANEY_MIN_LOG_HZ / _SLANEY_HZ_PER_MEL
_SLANEY_LOG_STEP = math.log(6.4) / 27.0


def hertz_to_mel(frequencies, mel_scale="slaney"):
    """Converts frequencies in Hz (NumPy array) to mels on the `slaney` or `htk` scale."""
    f = np.asarray(frequencies, dtype=np.float64)
    if mel_scale == "htk":
        return 2595.0 * np.log10(1.0 + f / 700.0)
    linear = f / _SLANEY_HZ_PER_MEL
    log = _SLANEY_MIN_LOG_MEL + np.log(np.maximum(f, _SLANEY_MIN_LOG_HZ) / _SLANEY_MIN_LOG_HZ) / (
        _SLANEY_LOG_STEP
    )
    return np.where(f >= _SLANEY_MIN_LOG_HZ, log, linear)


def mel_to_hertz(mels, mel_scale="slaney"):
    """Inverse of `hertz_to_mel`."""
    m = np.asarray(mels, dtype=np.float64)
    if mel_scale == "htk":
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    linear = m * _SLANEY_HZ_PER_MEL
    log = _SLANEY_MIN_LOG_HZ * np.exp(_SLANEY_LOG_STEP * (m - _SLANEY_MIN_LOG_MEL))
    return np.where(m >= _SLANEY_MIN_LOG_MEL, log, linear)


def mel_filterbank(
    sample_rate, fft_length, num_mel_bins, lower_edge_hertz, upper_edge_hertz, mel_scale
):
    """Triangular mel filters as a NumPy array of shape (fft_length // 2 + 1, num_mel_bins).

    `slaney` filters are area-normalized (each triangle scaled by 2 / its width in Hz, librosa's
    `norm="slaney"`); `htk` filters have unit peak (HTK, torchaudio's default `norm=None`).
    """
    fft_freqs = np.linspace(0.0, sample_rate / 2.0, fft_length // 2 + 1)  # (F,)
    mel_edges = np.linspace(
        hertz_to_mel(lower_edge_hertz, mel_scale),
        hertz_to_mel(upper_edge_hertz, mel_scale),
        num_mel_bins + 2,
    )
    hz_edges = mel_to_hertz(mel_edges, mel_scale)  # (M + 2,)
    widths = np.diff(hz_edges)  # (M + 1,)
    ramps = hz_edges[:, None] - fft_freqs[None, :]  # (M + 2, F)
    rising = -ramps[:-2] / widths[:-1, None]  # (M, F)
    falling = ramps[2:] / widths[1:, None]  # (M, F)
    weights = np.maximum(0.0, np.minimum(rising, falling))  # (M, F)
    if mel_scale == "slaney":
        weights *= (2.0 / (hz_edges[2:] - hz_edges[:-2]))[:, None]
    return weights.T.astype(np.float32)


def _centered_window(frame_length, fft_length):
    """Periodic Hann window of `frame_length` zero-padded (centred) to `fft_length`."""
    n = np.arange(frame_length, dtype=np.float64)
    hann = 0.5 - 0.5 * np.cos(2.0 * np.pi * n / frame_length)
    left = (fft_length - frame_length) // 2
    return np.pad(hann, (left, fft_length - frame_length - left))  # (fft_length,)


def _windowed_dft_basis(window):
    """Real DFT with the window folded in: (fft_length, 2 * (fft_length // 2 + 1)), [cos | -sin]."""
    fft_length = window.shape[0]
    n = np.arange(fft_length)
    k = np.arange(fft_length // 2 + 1)
    # The integer product modulo fft_length keeps the angle exact before the float conversion.
    angle = 2.0 * np.pi * ((n[:, None] * k[None, :]) % fft_length) / fft_length  # (N, F)
    basis = np.concatenate([np.cos(angle), -np.sin(angle)], axis=1) * window[:, None]
    return basis.astype(np.float32)


@register
class LogMelSpectrogram(keras.layers.Layer):
    """Waveform to log-mel spectrogram (dB), always in float32.

    Frames the (optionally centre-padded) waveform, applies a periodic Hann window, takes the power
    spectrum, projects it on a mel filterbank and converts to decibels:
    `10 log10(max(amin, S)) - 10 log10(max(amin, ref))`, floored at `max - top_db` per example.
    Power-of-two `fft_length`s use `tf.signal.rfft`; other lengths (the default 400) use a matmul
    with a windowed DFT basis, because TFLite's builtin RFFT only accepts powers of two.

    Args:
        sample_rate: sampling rate of the input in Hz.
        fft_length: FFT size (librosa `n_fft`); frames are this long.
        frame_length: Hann window length (librosa `win_length`), at most `fft_length`; the window
            is zero-padded to `fft_length`, centred.
        frame_step: hop between frames in samples.
        num_mel_bins: number of mel filters.
        lower_edge_hertz: lowest filter edge in Hz.
        upper_edge_hertz: highest filter edge in Hz; `None` means `sample_rate / 2`.
        mel_scale: `"slaney"` (Slaney scale, area-normalized filters: librosa's default) or
            `"htk"` (HTK scale, unit-peak filters: librosa `htk=True, norm=None`).
        center: if True, pads `fft_length // 2` zeros on both sides so frame `t` is centred on
            sample `t * frame_step`.
        power: exponent of the magnitude spectrum (2.0 = power).
        amin: floor applied before the logarithm.
        top_db: dynamic range kept below each example's maximum, or `None` for no floor.
        ref: reference value mapped to 0 dB.
        **kwargs: base layer arguments (`name`, ...). The dtype policy is always float32.

    Call arguments:
        inputs: float waveform, (B, N) or (N,).
        mask: optional boolean padding mask shaped like `inputs`, True for real samples (a
            prefix of each row). Padded samples are zeroed, `top_db` is measured over valid frames
            only, and `compute_mask` returns the per-frame mask (frame valid iff its centre sample
            is a real sample).

    Returns:
        float32 log-mel spectrogram, (B, frames, num_mel_bins) or (frames, num_mel_bins), with
        `frames = num_frames(N)`.

    Example:
    >>> layer = LogMelSpectrogram(sample_rate=16000)
    >>> layer(tf.zeros((2, 16000))).shape
    TensorShape([2, 101, 80])
    """

    def __init__(
        self,
        sample_rate=16000,
        fft_length=400,
        frame_length=400,
        frame_step=160,
        num_mel_bins=80,
        lower_edge_hertz=0.0,
        upper_edge_hertz=None,
        mel_scale="slaney",
        center=True,
        power=2.0,
        amin=1e-10,
        top_db=80.0,
        ref=1.0,
        **kwargs,
    ):
        # Log-mel stays float32 under mixed precision (STYLE.md §3): bf16 has ~3 significant
        # digits, which the dB conversion of a 80 dB dynamic range cannot afford.
        kwargs["dtype"] = "float32"
        super().__init__(**kwargs)
        if mel_scale not in _MEL_SCALES:
            raise ValueError(f"`mel_scale` must be one of {_MEL_SCALES}, got {mel_scale!r}.")
        if not 0 < frame_length <= fft_length:
            raise ValueError(
                f"`frame_length` must be in (0, fft_length={fft_length}], got {frame_length}."
            )
        nyquist = sample_rate / 2.0
        upper = nyquist if upper_edge_hertz is None else upper_edge_hertz
        if not 0.0 <= lower_edge_hertz < upper <= nyquist:
            raise ValueError(
                "Need 0 <= lower_edge_hertz < upper_edge_hertz <= sample_rate / 2, got "
                f"{lower_edge_hertz}, {upper_edge_hertz}, sample_rate={sample_rate}."
            )
        self.sample_rate = sample_rate
        self.fft_length = fft_length
        self.frame_length = frame_length
        self.frame_step = frame_step
        self.num_mel_bins = num_mel_bins
        self.lower_edge_hertz = lower_edge_hertz
        self.upper_edge_hertz = upper_edge_hertz
        self.mel_scale = mel_scale
        self.center = center
        self.power = power
        self.amin = amin
        self.top_db = top_db
        self.ref = ref
        self.supports_masking = True

        self._window = _centered_window(frame_length, fft_length).astype(np.float32)
        self._use_rfft = fft_length & (fft_length - 1) == 0
        self._dft_basis = None if self._use_rfft else _windowed_dft_basis(self._window)
        self._mel_matrix = mel_filterbank(
            sample_rate, fft_length, num_mel_bins, lower_edge_hertz, upper, mel_scale
        )  # (F, M)
        # Each triangular filter covers a few FFT bins: keep only the nonzero weights.
        bins, mels = np.nonzero(self._mel_matrix)  # (K,), (K,)
        self._mel_bins = bins.astype(np.int32)
        self._mel_ids = mels.astype(np.int32)
        self._mel_weights = self._mel_matrix[bins, mels].astype(np.float32)

    @property
    def num_nonzero_mel_weights(self):
        """Nonzero weights of the mel filterbank (the work of the sparse mel product)."""
        return int(self._mel_weights.size)

    def num_frames(self, num_samples):
        """Number of output frames for `num_samples` input samples (int or integer tensor)."""
        padded = num_samples + 2 * (self.fft_length // 2) if self.center else num_samples
        frames = 1 + (padded - self.fft_length) // self.frame_step
        if isinstance(frames, (int, np.integer)):
            return max(0, int(frames))
        return tf.maximum(frames, 0)

    def _frame_mask(self, num_samples, mask):
        """Per-frame validity (B, frames) from a per-sample padding mask (B, N)."""
        num_valid = tf.reduce_sum(tf.cast(mask, tf.int32), axis=-1)  # (B,)
        # With center=True frame t is centred on sample t * frame_step.
        offset = 0 if self.center else self.fft_length // 2
        centres = tf.range(self.num_frames(num_samples)) * self.frame_step + offset  # (T,)
        return centres[None, :] < num_valid[:, None]  # (B, T)

    def _power_spectrum(self, waveform):
        """|STFT|^power of a (B, N) float32 waveform: (B, T, fft_length // 2 + 1)."""
        if self.center:
            pad = self.fft_length // 2
            waveform = tf.pad(waveform, [[0, 0], [pad, pad]])  # (B, N + 2 pad)
        frames = tf.signal.frame(waveform, self.fft_length, self.frame_step)  # (B, T, fft)
        if self._use_rfft:
            spectrum = tf.signal.rfft(frames * self._window, fft_length=[self.fft_length])
            squared = tf.math.real(spectrum) ** 2 + tf.math.imag(spectrum) ** 2  # (B, T, F)
        else:
            parts = tf.matmul(frames, tf.constant(self._dft_basis))  # (B, T, 2F)
            real, imag = tf.split(parts, 2, axis=-1)  # (B, T, F) each
            squared = real**2 + imag**2
        if self.power == 2.0:
            return squared
        return tf.pow(squared, self.power / 2.0)

    def _project_to_mel(self, power):
        """(B, T, F) power → (B, T, M) mel energies: the filterbank product, sparsely.

        A gather, a multiply and a segment sum over the nonzero filter weights, not a matmul
        with a constant: TFLite's dynamic-range quantization turns such matmuls into int8
        kernels that also quantize their input, and a power spectrum spanning ten decades does
        not survive 8 bits. It is also ~20× fewer multiplies than the dense product.
        """
        picked = tf.gather(power, self._mel_bins, axis=-1) * self._mel_weights  # (B, T, K)
        summed = tf.math.unsorted_segment_sum(
            tf.transpose(picked, [2, 0, 1]), self._mel_ids, num_segments=self.num_mel_bins
        )  # (M, B, T)
        return tf.transpose(summed, [1, 2, 0])

    def call(self, inputs, mask=None):
        waveform = tf.cast(inputs, tf.float32)
        mask = None if mask is None else tf.convert_to_tensor(mask)
        unbatched = waveform.shape.rank == 1
        if unbatched:
            waveform = waveform[None, :]  # (1, N)
            mask = None if mask is None else mask[None, :]
        if mask is not None:
            waveform = waveform * tf.cast(mask, tf.float32)  # (B, N)

        power = self._power_spectrum(waveform)  # (B, T, F)
        mel = self._project_to_mel(power)  # (B, T, M)
        offset = 10.0 * math.log10(max(self.amin, self.ref))
        log_mel = 10.0 * _log10(tf.maximum(mel, self.amin)) - offset

        if self.top_db is not None:
            candidates = log_mel  # (B, T, M)
            if mask is not None:
                frame_mask = self._frame_mask(tf.shape(waveform)[-1], mask)  # (B, T)
                # Padding frames take the lowest value a frame can have, so they never win the
                # peak. (Not float32.min: a full-integer TFLite model would quantize this
                # tensor over [float32.min, peak] and lose every real value.)
                floor = 10.0 * math.log10(self.amin) - offset
                candidates = tf.where(frame_mask[:, :, None], log_mel, floor)
            peak = tf.reduce_max(candidates, axis=[-2, -1], keepdims=True)  # (B, 1, 1)
            log_mel = tf.maximum(log_mel, peak - self.top_db)
        return log_mel[0] if unbatched else log_mel

    def compute_mask(self, inputs, mask=None):
        if mask is None:
            return None
        mask = tf.convert_to_tensor(mask)
        if mask.shape.rank == 1:
            return self._frame_mask(tf.shape(inputs)[-1], mask[None, :])[0]  # (T,)
        return self._frame_mask(tf.shape(inputs)[-1], mask)  # (B, T)

    def compute_output_shape(self, input_shape):
        input_shape = tf.TensorShape(input_shape)
        num_samples = input_shape[-1]
        frames = None if num_samples is None else self.num_frames(int(num_samples))
        return input_shape[:-1].concatenate([frames, self.num_mel_bins])

    def get_config(self):
        return with_fields(
            super().get_config(),
            self,
            (
                "sample_rate",
                "fft_length",
                "frame_length",
                "frame_step",
                "num_mel_bins",
                "lower_edge_hertz",
                "upper_edge_hertz",
                "mel_scale",
                "center",
                "power",
                "amin",
                "top_db",
                "ref",
            ),
        )


def _log10(x):
    return tf.math.log(x) * (1.0 / math.log(10.0))
