"""Causal text decoder with cross-attention to an encoder (fused multimodal) sequence."""

from mmlm.backend import keras, register
from mmlm.layers import TransformerDecoderBlock
from mmlm.layers.chunked_attention import DEFAULT_CHUNK_SIZE
from mmlm.models.encoder import (
    ATTENTION_FIELDS,
    SIZE_FIELDS,
    TokenEmbeddings,
    Tower,
    final_norm,
    transformer_blocks,
)


@register
class TextDecoder(Tower):
    """Token + position embeddings → causal decoder blocks with cross-attention → logits.

    Used for captioning (conditioned on image and/or audio), translation (conditioned on the
    text encoder) and generation. The layers are attributes (`token_embedding`,
    `position_embedding`, `blocks`, `final_norm`, `lm_head`) so decoding can run them one step at
    a time with a key/value cache.

    Args:
        vocabulary_size: tokens in the vocabulary.
        sequence_length: longest decoder sequence.
        hidden_dim, num_layers, num_heads, intermediate_dim, dropout: sizes.
        attention_implementation: "dense" or "chunked" (exact attention in recomputed query
            chunks, for long sequences; `mmlm.layers.TransformerEncoderBlock`).
        attention_chunk_size: queries per chunk of the chunked attention.

    Inputs (dict):
        decoder_token_ids (B, L) int32, decoder_padding_mask (B, L) bool,
        encoder_sequence (B, Le, H), encoder_padding_mask (B, Le) bool.

    Outputs (dict):
        sequence_output (B, L, H), logits (B, L, vocabulary_size) float32.
    """

    config_fields = ("vocabulary_size", "sequence_length") + SIZE_FIELDS + ATTENTION_FIELDS

    def __init__(
        self,
        vocabulary_size,
        sequence_length,
        hidden_dim,
        num_layers,
        num_heads,
        intermediate_dim,
        dropout=0.0,
        attention_implementation="dense",
        attention_chunk_size=DEFAULT_CHUNK_SIZE,
        **kwargs,
    ):
        embeddings = TokenEmbeddings(vocabulary_size, sequence_length, hidden_dim, dropout)
        blocks = transformer_blocks(TransformerDecoderBlock, locals())
        norm = final_norm()
        lm_head = keras.layers.Dense(vocabulary_size, dtype="float32", name="lm_head")

        inputs = {
            "decoder_token_ids": keras.Input((None,), dtype="int32", name="decoder_token_ids"),
            "decoder_padding_mask": keras.Input((None,), dtype="bool", name="decoder_padding_mask"),
            "encoder_sequence": keras.Input((None, hidden_dim), name="encoder_sequence"),
            "encoder_padding_mask": keras.Input((None,), dtype="bool", name="encoder_padding_mask"),
        }
        x = embeddings(inputs["decoder_token_ids"])  # (B, L, H)
        for block in blocks:
            x = block(
                x,
                inputs["encoder_sequence"],
                decoder_padding_mask=inputs["decoder_padding_mask"],
                encoder_padding_mask=inputs["encoder_padding_mask"],
            )
        x = norm(x)
        super().__init__(
            inputs=inputs, outputs={"sequence_output": x, "logits": lm_head(x)}, **kwargs
        )
        self.token_embedding = embeddings.token_embedding
        self.position_embedding = embeddings.position_embedding
        self.blocks = blocks
        self.final_norm = norm
        self.lm_head = lm_head
        self.store_config(locals())
