"""Pieces every tower shares: config fields, token embeddings, the block stack, patch towers."""

from mmlm.backend import keras, keras_nlp
from mmlm.layers import (
    AllValidMask,
    MaskedPooling,
    MaskTokens,
    PatchDropout,
    PatchEmbedding,
    PrependToken,
    SinCosPositionEncoding2D,
    TransformerEncoderBlock,
)
from mmlm.layers.chunked_attention import DEFAULT_CHUNK_SIZE

PATCH_POSITIONS = ("learned", "sincos")

# The sizes every Transformer tower takes (the encoders add `pooling`).
SIZE_FIELDS = ("hidden_dim", "num_layers", "num_heads", "intermediate_dim", "dropout")
# How every tower's blocks compute attention (`TransformerEncoderBlock`).
ATTENTION_FIELDS = ("attention_implementation", "attention_chunk_size")
TOWER_FIELDS = SIZE_FIELDS + ("pooling",) + ATTENTION_FIELDS


class Tower(keras.Model):
    """A functional model whose config is its constructor arguments, each kept under its name.

    A subclass lists them in `config_fields`, builds its graph, calls `super().__init__` with the
    inputs and outputs and then `self.store_config(locals())`; `get_config` and `from_config`
    follow from the list.
    """

    config_fields = ()

    def store_config(self, arguments):
        """Keeps each of `config_fields` from `arguments` (the constructor's `locals()`)."""
        for field in self.config_fields:
            setattr(self, field, arguments[field])

    def get_config(self):
        config = {"name": self.name, "trainable": self.trainable}
        config.update({field: getattr(self, field) for field in self.config_fields})
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def tower_sizes(arguments):
    """The `TOWER_FIELDS` of a constructor's `locals()`, for `PatchTower`."""
    return {field: arguments[field] for field in TOWER_FIELDS}


class TokenEmbeddings:
    """Token + learned position embeddings → dropout: the input of the text towers.

    The layers are attributes, so the decoder can also run them one step at a time.
    """

    def __init__(self, vocabulary_size, sequence_length, hidden_dim, dropout):
        self.token_embedding = keras.layers.Embedding(
            vocabulary_size, hidden_dim, name="token_embedding"
        )
        self.position_embedding = keras_nlp.layers.PositionEmbedding(
            sequence_length, name="position_embedding"
        )
        self.add = keras.layers.Add(name="embeddings_add")
        self.dropout = keras.layers.Dropout(dropout, name="embeddings_dropout")

    def __call__(self, token_ids):
        """(B, L) ids → (B, L, H)."""
        tokens = self.token_embedding(token_ids)  # (B, L, H)
        return self.dropout(self.add([tokens, self.position_embedding(tokens)]))


def transformer_blocks(block_class, arguments):
    """`num_layers` blocks of `block_class` (the encoder or decoder block), named `block_{i}`,
    sized by the `SIZE_FIELDS` and `ATTENTION_FIELDS` of `arguments` (a constructor's
    `locals()`)."""
    return [
        block_class(
            arguments["intermediate_dim"],
            arguments["num_heads"],
            dropout=arguments["dropout"],
            attention_implementation=arguments["attention_implementation"],
            attention_chunk_size=arguments["attention_chunk_size"],
            name=f"block_{index}",
        )
        for index in range(arguments["num_layers"])
    ]


def final_norm():
    """The LayerNorm after a tower's last block (float32 under mixed precision)."""
    return keras.layers.LayerNormalization(epsilon=1e-6, dtype="float32", name="final_norm")


class BlockStack:
    """Transformer blocks → final LayerNorm → pooling, created once and callable many times.

    A tower may apply the same layers to two symbolic graphs (plain and masked inputs); both then
    share every weight.

    Args:
        num_layers, num_heads, intermediate_dim, dropout: block sizes.
        pooling: "mean" or "class_token".
        attention_implementation, attention_chunk_size: the blocks' attention ("dense" or
            "chunked", see `TransformerEncoderBlock`).
    """

    def __init__(
        self,
        num_layers,
        num_heads,
        intermediate_dim,
        dropout,
        pooling,
        attention_implementation="dense",
        attention_chunk_size=DEFAULT_CHUNK_SIZE,
    ):
        self.blocks = transformer_blocks(TransformerEncoderBlock, locals())
        self.norm = final_norm()
        self.pooling = MaskedPooling(pooling, name="pooling")

    def __call__(self, x, padding_mask=None):
        """(B, L, H) embedded sequence → {"sequence_output", "pooled_output"}."""
        for block in self.blocks:
            x = block(x, padding_mask=padding_mask)
        x = self.norm(x)
        return {"sequence_output": x, "pooled_output": self.pooling(x, padding_mask)}


class PatchTower:
    """Patches → [mask tokens] → + positions → [class token] → `BlockStack`.

    Shared by the ViT and the audio spectrogram Transformer. Call it on a plain graph and on a
    masked one (masked patch modelling): both share every weight.

    Args:
        grid: (rows, cols) of the patch grid; patches are row-major.
        patch_size: side of the square patches.
        sizes: the tower's `TOWER_FIELDS` (hidden_dim, num_layers, num_heads,
            intermediate_dim, dropout, pooling, attention_implementation, attention_chunk_size).
        positions: "learned" (a table of rows · cols vectors) or "sincos" (fixed 2-D
            sine-cosine of each patch's row and column).
        stem_channels: the patch embedding's convolutional stem (empty: linear patches).
        patch_dropout: share of the patches the plain (unmasked) graph drops in training
            (`PatchDropout`, FLIP); 0 keeps them all. The masked graph never drops.
    """

    def __init__(
        self, grid, patch_size, sizes, positions="learned", stem_channels=(), patch_dropout=0.0
    ):
        hidden_dim, pooling = sizes["hidden_dim"], sizes["pooling"]
        if positions not in PATCH_POSITIONS:
            raise ValueError(f"`positions` must be one of {PATCH_POSITIONS}, got {positions!r}.")
        self.patch_embedding = PatchEmbedding(
            patch_size, hidden_dim, stem_channels, name="patch_embedding"
        )
        self.mask_tokens = MaskTokens(hidden_dim, name="mask_tokens")
        if positions == "sincos":
            self.position_embedding = SinCosPositionEncoding2D(*grid, name="position_encoding")
        else:
            self.position_embedding = keras_nlp.layers.PositionEmbedding(
                grid[0] * grid[1], name="position_embedding"
            )
        self.add = keras.layers.Add(name="embeddings_add")
        self.dropout = keras.layers.Dropout(sizes["dropout"], name="embeddings_dropout")
        self.class_token = (
            PrependToken(hidden_dim, name="class_token") if pooling == "class_token" else None
        )
        self.all_valid = AllValidMask(name="all_valid_mask")
        self.patch_dropout = PatchDropout(patch_dropout, name="patch_dropout")
        self.stack = BlockStack(**{field: sizes[field] for field in TOWER_FIELDS[1:]})

    def __call__(self, inputs, padding_mask=None, patch_mask=None):
        """Images (B, H, W, C) or spectrograms (B, T, M) → tower outputs.

        Args:
            padding_mask: (B, N) patch validity (None = all valid).
            patch_mask: (B, N) bool, patches replaced by the mask token (masked modelling).
        Returns:
            {"sequence_output" (B, L, H) [class token first], "pooled_output" (B, H),
             "patch_output" (B, N, H), "padding_mask" (B, L)}; with patch dropout, in
            training, L and N count the kept patches only.
        """
        x = self.patch_embedding(inputs, patch_mask=patch_mask)  # (B, N, H)
        if patch_mask is not None:
            x = self.mask_tokens(x, patch_mask)
        x = self.dropout(self.add([x, self.position_embedding(x)]))
        if padding_mask is None:
            padding_mask = self.all_valid(x)
        if patch_mask is None and self.patch_dropout.rate > 0.0:
            x, padding_mask = self.patch_dropout(x, padding_mask)  # (B, K, H) in training
        if self.class_token is not None:
            x, padding_mask = self.class_token(x, padding_mask)
        outputs = self.stack(x, padding_mask)
        sequence = outputs["sequence_output"]
        outputs["patch_output"] = sequence if self.class_token is None else sequence[:, 1:]
        outputs["padding_mask"] = padding_mask
        return outputs
