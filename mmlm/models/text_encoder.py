"""Text Transformer encoder (understanding and contrastive embeddings)."""

from mmlm.backend import keras, register
from mmlm.layers.chunked_attention import DEFAULT_CHUNK_SIZE
from mmlm.models.encoder import TOWER_FIELDS, BlockStack, TokenEmbeddings, Tower


@register
class TextEncoder(Tower):
    """Token + learned position embeddings → pre-LN Transformer blocks → LayerNorm.

    Args:
        vocabulary_size: tokens in the vocabulary.
        sequence_length: longest sequence (size of the position table).
        hidden_dim, num_layers, num_heads, intermediate_dim, dropout: tower size.
        pooling: "mean" (over valid tokens) or "class_token" (the [START] token's output).
        attention_implementation: "dense" or "chunked" (exact attention in recomputed query
            chunks, for long sequences; `mmlm.layers.TransformerEncoderBlock`).
        attention_chunk_size: queries per chunk of the chunked attention.

    Inputs (dict):
        token_ids: (B, L) int32.
        padding_mask: (B, L) bool.

    Outputs (dict):
        sequence_output: (B, L, H); pooled_output: (B, H).

    Example:
    >>> encoder = TextEncoder(100, 16, 32, 1, 2, 64)
    >>> encoder({"token_ids": tf.ones((2, 16), tf.int32),
    ...          "padding_mask": tf.ones((2, 16), bool)})["pooled_output"].shape
    TensorShape([2, 32])
    """

    config_fields = TOWER_FIELDS + ("vocabulary_size", "sequence_length")

    def __init__(
        self,
        vocabulary_size,
        sequence_length,
        hidden_dim,
        num_layers,
        num_heads,
        intermediate_dim,
        dropout=0.0,
        pooling="mean",
        attention_implementation="dense",
        attention_chunk_size=DEFAULT_CHUNK_SIZE,
        **kwargs,
    ):
        embeddings = TokenEmbeddings(vocabulary_size, sequence_length, hidden_dim, dropout)
        token_ids = keras.Input((None,), dtype="int32", name="token_ids")
        padding_mask = keras.Input((None,), dtype="bool", name="padding_mask")
        x = embeddings(token_ids)  # (B, L, H)
        outputs = BlockStack(
            num_layers,
            num_heads,
            intermediate_dim,
            dropout,
            pooling,
            attention_implementation,
            attention_chunk_size,
        )(x, padding_mask)
        super().__init__(
            inputs={"token_ids": token_ids, "padding_mask": padding_mask},
            outputs=outputs,
            **kwargs,
        )
        self.store_config(locals())
