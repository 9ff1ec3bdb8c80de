"""Text Transformer encoder (understanding and contrastive embeddings)."""

from mmlm.backend import keras, keras_nlp, register
from mmlm.models.encoder import BlockStack, set_tower_fields, tower_config


@register
class TextEncoder(keras.Model):
    """Token + learned position embeddings → pre-LN Transformer blocks → LayerNorm.

    Args:
        vocabulary_size: tokens in the vocabulary.
        sequence_length: longest sequence (size of the position table).
        hidden_dim, num_layers, num_heads, intermediate_dim, dropout: tower size.
        pooling: "mean" (over valid tokens) or "class_token" (the [START] token's output).

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
        **kwargs,
    ):
        token_embedding = keras.layers.Embedding(
            vocabulary_size, hidden_dim, name="token_embedding"
        )
        position_embedding = keras_nlp.layers.PositionEmbedding(
            sequence_length, name="position_embedding"
        )
        token_ids = keras.Input((None,), dtype="int32", name="token_ids")
        padding_mask = keras.Input((None,), dtype="bool", name="padding_mask")
        tokens = token_embedding(token_ids)  # (B, L, H)
        x = keras.layers.Add(name="embeddings_add")([tokens, position_embedding(tokens)])
        x = keras.layers.Dropout(dropout, name="embeddings_dropout")(x)
        outputs = BlockStack(num_layers, num_heads, intermediate_dim, dropout, pooling)(
            x, padding_mask
        )
        super().__init__(
            inputs={"token_ids": token_ids, "padding_mask": padding_mask},
            outputs=outputs,
            **kwargs,
        )
        self.vocabulary_size = vocabulary_size
        self.sequence_length = sequence_length
        set_tower_fields(self, locals())

    def get_config(self):
        return {
            **tower_config(self),
            "vocabulary_size": self.vocabulary_size,
            "sequence_length": self.sequence_length,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)
