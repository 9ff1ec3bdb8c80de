"""Audio spectrogram Transformer: raw waveform → in-graph log-mel → patches → Transformer."""

from mmlm.backend import keras, register
from mmlm.layers import AudioFrontend
from mmlm.layers.chunked_attention import DEFAULT_CHUNK_SIZE
from mmlm.models.encoder import TOWER_FIELDS, PatchTower, Tower, tower_sizes


@register
class AudioSpectrogramEncoder(Tower):
    """AST-style encoder over (time × mel) patches of a log-mel spectrogram computed in the graph.

    Args:
        num_samples: waveform length (the pipeline pads/crops audio to it).
        log_mel: `LogMelSpectrogram` arguments (dict: sample_rate, fft_length, ...).
        patch_size: side of the square spectrogram patches.
        hidden_dim, num_layers, num_heads, intermediate_dim, dropout, pooling: tower size.
        spectrogram_mean, spectrogram_std: dB standardization constants.
        patch_positions: "learned" or "sincos" (fixed 2-D sine-cosine of time and mel band).
        attention_implementation: "dense" or "chunked" (exact attention in recomputed query
            chunks, for long sequences; `mmlm.layers.TransformerEncoderBlock`).
        attention_chunk_size: queries per chunk of the chunked attention.
        patch_dropout: share of the valid patches dropped in training passes (FLIP; 0:
            none): training outputs hold the kept patches only; evaluation sees them all.

    Inputs (dict):
        audio: (B, num_samples) float waveform; audio_padding_mask: (B, num_samples) bool.

    Outputs (dict):
        sequence_output (B, L, H), pooled_output (B, H), patch_output (B, N, H),
        padding_mask (B, L) (patches of padding are invalid).

    `masked_encoder` shares the weights, takes an extra `patch_mask` (B, N) and also returns the
    standardized `spectrogram` (B, T, M) and its `frame_mask`, the masked-modelling targets.

    Example:
    >>> encoder = AudioSpectrogramEncoder(16000, {"sample_rate": 16000}, 16, 32, 1, 2, 64)
    >>> encoder({"audio": tf.zeros((1, 16000)),
    ...          "audio_padding_mask": tf.ones((1, 16000), bool)})["patch_output"].shape
    TensorShape([1, 30, 32])
    """

    config_fields = TOWER_FIELDS + (
        "num_samples",
        "log_mel",
        "patch_size",
        "spectrogram_mean",
        "spectrogram_std",
        "patch_positions",
        "patch_dropout",
    )

    def __init__(
        self,
        num_samples,
        log_mel,
        patch_size,
        hidden_dim,
        num_layers,
        num_heads,
        intermediate_dim,
        dropout=0.0,
        pooling="mean",
        spectrogram_mean=-20.0,
        spectrogram_std=20.0,
        patch_positions="learned",
        attention_implementation="dense",
        attention_chunk_size=DEFAULT_CHUNK_SIZE,
        patch_dropout=0.0,
        **kwargs,
    ):
        frontend = AudioFrontend(
            log_mel, patch_size, spectrogram_mean, spectrogram_std, name="frontend"
        )
        num_patches = frontend.num_patches(num_samples)
        tower = PatchTower(
            frontend.patch_grid(num_samples),
            patch_size,
            tower_sizes(locals()),
            patch_positions,
            patch_dropout=patch_dropout,
        )

        def audio_inputs():
            return {
                "audio": keras.Input((num_samples,), name="audio"),
                "audio_padding_mask": keras.Input(
                    (num_samples,), dtype="bool", name="audio_padding_mask"
                ),
            }

        inputs = audio_inputs()
        features = frontend(inputs["audio"], inputs["audio_padding_mask"])
        outputs = tower(features["spectrogram"], padding_mask=features["patch_mask"])
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)

        masked_inputs = audio_inputs()
        masked_inputs["patch_mask"] = keras.Input((num_patches,), dtype="bool", name="patch_mask")
        features = frontend(masked_inputs["audio"], masked_inputs["audio_padding_mask"])
        masked_outputs = tower(
            features["spectrogram"],
            padding_mask=features["patch_mask"],
            patch_mask=masked_inputs["patch_mask"],
        )
        masked_outputs["spectrogram"] = features["spectrogram"]
        masked_outputs["frame_mask"] = features["frame_mask"]
        self.masked_encoder = keras.Model(masked_inputs, masked_outputs, name=f"{self.name}_masked")
        self.frontend = frontend
        self.num_patches = num_patches
        log_mel = dict(log_mel)
        self.store_config(locals())
