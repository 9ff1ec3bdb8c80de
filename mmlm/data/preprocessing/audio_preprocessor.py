"""Fixed-length waveforms (and optionally log-mel spectrograms) with padding masks."""

from mmlm.backend import keras, register, tf
from mmlm.layers.config_fields import with_fields
from mmlm.layers.log_mel_spectrogram import LogMelSpectrogram

_INT16_SCALE = 1.0 / 32768.0


@register
class AudioPreprocessor(keras.layers.Layer):
    """Crops or zero-pads waveforms to `duration_seconds` and marks the real samples.

    Works on one example or a batch, eagerly, in `tf.function` and in `tf.data.Dataset.map`
    before or after batching (variable-length batches arrive as ragged tensors). Long waveforms
    keep their first `max_samples` samples. Resampling is the data source's job: the input must
    already be at `sample_rate`.

    Args:
        sample_rate: sampling rate of the input in Hz.
        duration_seconds: output length; `max_samples = round(sample_rate * duration_seconds)`.
        log_mel: `None`, or a dict of `LogMelSpectrogram` arguments (`sample_rate` defaults to
            this layer's); when given, the spectrogram and its frame mask are also returned.
        **kwargs: base layer arguments (`name`, ...). The dtype policy is always float32.

    Call arguments:
        inputs: waveform (N,), batch (B, N), or `tf.RaggedTensor` (B, None). int16 samples are
            scaled by 1/32768; float samples are used as they are.

    Returns:
        A dict with `audio` float32 (max_samples,) or (B, max_samples), `audio_padding_mask` bool
        of the same shape (True = real sample) and, with `log_mel`, `spectrogram` float32
        (frames, mels) or (B, frames, mels) and `spectrogram_padding_mask` bool (frames,) or
        (B, frames).

    Example:
    >>> preprocessor = AudioPreprocessor(duration_seconds=1.0, log_mel={"num_mel_bins": 64})
    >>> outputs = preprocessor(tf.ragged.constant([[0.1, 0.2], [0.3]]))
    >>> outputs["audio"].shape, outputs["spectrogram"].shape
    (TensorShape([2, 16000]), TensorShape([2, 101, 64]))
    """

    def __init__(self, sample_rate=16000, duration_seconds=8.0, log_mel=None, **kwargs):
        # Audio samples must not be rounded to bf16 under a mixed-precision global policy.
        kwargs["dtype"] = "float32"
        super().__init__(**kwargs)
        self.sample_rate = sample_rate
        self.duration_seconds = duration_seconds
        self.log_mel = None if log_mel is None else dict(log_mel)
        self.max_samples = int(round(sample_rate * duration_seconds))
        self.log_mel_spectrogram = None
        if log_mel is not None:
            log_mel_kwargs = {"sample_rate": sample_rate, **log_mel}
            if log_mel_kwargs["sample_rate"] != sample_rate:
                raise ValueError(
                    f"`log_mel['sample_rate']`={log_mel_kwargs['sample_rate']} differs from "
                    f"`sample_rate`={sample_rate}."
                )
            self.log_mel_spectrogram = LogMelSpectrogram(**log_mel_kwargs, name="log_mel")

    def _to_float(self, waveform):
        if waveform.dtype == tf.int16:
            return tf.cast(waveform, tf.float32) * _INT16_SCALE
        if not waveform.dtype.is_floating:
            raise TypeError(f"Expected int16 or float audio, got {waveform.dtype.name}.")
        return tf.cast(waveform, tf.float32)

    def _fix_length(self, waveform):
        """Ragged or dense (B, N) float32 -> audio (B, S) and padding mask (B, S)."""
        if isinstance(waveform, tf.RaggedTensor):
            lengths = waveform.row_lengths()  # (B,)
            audio = waveform.to_tensor(0.0, shape=[None, self.max_samples])  # (B, S)
        else:
            num_samples = tf.shape(waveform, out_type=tf.int64)[1]
            lengths = tf.fill(tf.shape(waveform, out_type=tf.int64)[:1], num_samples)  # (B,)
            audio = waveform[:, : self.max_samples]  # (B, min(N, S))
            audio = tf.pad(audio, [[0, 0], [0, self.max_samples - tf.shape(audio)[1]]])
            audio = tf.ensure_shape(audio, [None, self.max_samples])  # (B, S)
        positions = tf.range(self.max_samples, dtype=tf.int64)  # (S,)
        mask = positions[None, :] < lengths[:, None]  # (B, S)
        return audio, mask

    def call(self, inputs):
        if not isinstance(inputs, tf.RaggedTensor):
            inputs = tf.convert_to_tensor(inputs)
        unbatched = inputs.shape.rank == 1
        waveform = self._to_float(inputs)
        if unbatched:
            waveform = waveform[None, :]  # (1, N)
        audio, mask = self._fix_length(waveform)  # (B, S), (B, S)
        outputs = {"audio": audio, "audio_padding_mask": mask}
        if self.log_mel_spectrogram is not None:
            outputs["spectrogram"] = self.log_mel_spectrogram(audio, mask=mask)  # (B, T, M)
            outputs["spectrogram_padding_mask"] = self.log_mel_spectrogram.compute_mask(
                audio, mask
            )  # (B, T)
        if unbatched:
            outputs = {key: value[0] for key, value in outputs.items()}
        return outputs

    def get_config(self):
        return with_fields(
            super().get_config(), self, ("sample_rate", "duration_seconds", "log_mel")
        )
