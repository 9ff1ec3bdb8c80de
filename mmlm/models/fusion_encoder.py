"""Cross-modal fusion over whichever modalities are present."""

from mmlm.backend import keras, register
from mmlm.layers import (
    CrossModalFusionBlock,
    MaskedPooling,
    ModalityEmbedding,
    PrependToken,
    PresenceMask,
)
from mmlm.layers.chunked_attention import DEFAULT_CHUNK_SIZE
from mmlm.models.encoder import ATTENTION_FIELDS, SIZE_FIELDS, Tower, final_norm


@register
class CrossModalFusionEncoder(Tower):
    """Each modality's tokens attend to the other modalities' tokens, layer after layer.

    Per layer and modality, a `CrossModalFusionBlock` updates that modality's sequence from the
    concatenation of the others (all modalities update from the previous layer's sequences).
    A learned null token is always part of the context, so a row whose other modalities are
    missing stays well defined; a modality missing from a row (its `*_present` flag False) is
    masked out everywhere. The output is the fused sequence [null, text, image, audio] that the
    text decoder attends to.

    Args:
        modalities: tuple of modality names, e.g. ("text", "image", "audio").
        hidden_dim, num_layers, num_heads, intermediate_dim, dropout: sizes.
        attention_implementation: "dense" or "chunked" (exact attention in recomputed query
            chunks, for long sequences; `mmlm.layers.TransformerEncoderBlock`).
        attention_chunk_size: queries per chunk of the chunked attention.

    Inputs (dict), per modality m:
        `{m}_sequence` (B, Lm, H), `{m}_padding_mask` (B, Lm) bool, `{m}_present` (B,) bool.

    Outputs (dict):
        sequence_output (B, 1 + ΣLm, H), padding_mask (B, 1 + ΣLm), pooled_output (B, H)
        (mean over valid positions).
    """

    config_fields = ("modalities",) + SIZE_FIELDS + ATTENTION_FIELDS

    def __init__(
        self,
        modalities,
        hidden_dim,
        num_layers,
        num_heads,
        intermediate_dim,
        dropout=0.0,
        attention_implementation="dense",
        attention_chunk_size=DEFAULT_CHUNK_SIZE,
        **kwargs,
    ):
        modalities = tuple(modalities)
        inputs, sequences, masks = {}, {}, {}
        for m in modalities:
            inputs[f"{m}_sequence"] = keras.Input((None, hidden_dim), name=f"{m}_sequence")
            inputs[f"{m}_padding_mask"] = keras.Input(
                (None,), dtype="bool", name=f"{m}_padding_mask"
            )
            inputs[f"{m}_present"] = keras.Input((), dtype="bool", name=f"{m}_present")
            masks[m] = PresenceMask(name=f"{m}_presence_mask")(
                inputs[f"{m}_padding_mask"], inputs[f"{m}_present"]
            )
            sequences[m] = ModalityEmbedding(hidden_dim, name=f"{m}_modality_embedding")(
                inputs[f"{m}_sequence"]
            )
        null_token = PrependToken(hidden_dim, name="null_token")
        for layer in range(num_layers if len(modalities) > 1 else 0):
            updated = {}
            for m in modalities:
                others = [o for o in modalities if o != m]
                context, context_mask = _concatenate(
                    [sequences[o] for o in others], [masks[o] for o in others], f"{layer}_{m}"
                )
                context, context_mask = null_token(context, context_mask)
                block = CrossModalFusionBlock(
                    intermediate_dim,
                    num_heads,
                    dropout=dropout,
                    attention_implementation=attention_implementation,
                    attention_chunk_size=attention_chunk_size,
                    name=f"fusion_{layer}_{m}",
                )
                updated[m] = block(
                    sequences[m],
                    context,
                    decoder_padding_mask=masks[m],
                    encoder_padding_mask=context_mask,
                )
            sequences = updated
        sequence, padding_mask = _concatenate(
            [sequences[m] for m in modalities], [masks[m] for m in modalities], "output"
        )
        sequence, padding_mask = null_token(sequence, padding_mask)
        sequence = final_norm()(sequence)
        pooled = MaskedPooling("mean", name="pooling")(sequence, padding_mask)
        super().__init__(
            inputs=inputs,
            outputs={
                "sequence_output": sequence,
                "padding_mask": padding_mask,
                "pooled_output": pooled,
            },
            **kwargs,
        )
        self.store_config(locals())

    def get_config(self):
        return {**super().get_config(), "modalities": list(self.modalities)}


def _concatenate(sequences, masks, suffix):
    if len(sequences) == 1:
        return sequences[0], masks[0]
    sequence = keras.layers.Concatenate(axis=1, name=f"concat_sequence_{suffix}")(sequences)
    mask = keras.layers.Concatenate(axis=1, name=f"concat_mask_{suffix}")(masks)
    return sequence, mask
