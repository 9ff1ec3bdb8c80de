"""Pieces every encoder tower shares: the block stack, pooling and config fields."""

from mmlm.backend import keras, keras_nlp
from mmlm.layers import (
    AllValidMask,
    MaskedPooling,
    MaskTokens,
    PatchEmbedding,
    PrependToken,
    SinCosPositionEncoding2D,
    TransformerEncoderBlock,
)

PATCH_POSITIONS = ("learned", "sincos")

TOWER_FIELDS = (
    "hidden_dim",
    "num_layers",
    "num_heads",
    "intermediate_dim",
    "dropout",
    "pooling",
)


def tower_config(model):
    """The base config of a functional tower (name, trainable) plus its size fields."""
    config = {"name": model.name, "trainable": model.trainable}
    config.update({field: getattr(model, field) for field in TOWER_FIELDS})
    return config


def set_tower_fields(model, values):
    for field in TOWER_FIELDS:
        setattr(model, field, values[field])


class BlockStack:
    """Transformer blocks → final LayerNorm → pooling, created once and callable many times.

    A tower may apply the same layers to two symbolic graphs (plain and masked inputs); both then
    share every weight.

    Args:
        num_layers, num_heads, intermediate_dim, dropout: block sizes.
        pooling: "mean" or "class_token".
    """

    def __init__(self, num_layers, num_heads, intermediate_dim, dropout, pooling):
        self.blocks = [
            TransformerEncoderBlock(
                intermediate_dim, num_heads, dropout=dropout, name=f"block_{index}"
            )
            for index in range(num_layers)
        ]
        self.norm = keras.layers.LayerNormalization(
            epsilon=1e-6, dtype="float32", name="final_norm"
        )
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
        hidden_dim, num_layers, num_heads, intermediate_dim, dropout, pooling: tower size.
        positions: "learned" (a table of rows · cols vectors) or "sincos" (fixed 2-D
            sine-cosine of each patch's row and column).
        stem_channels: the patch embedding's convolutional stem (empty: linear patches).
    """

    def __init__(
        self,
        grid,
        patch_size,
        hidden_dim,
        num_layers,
        num_heads,
        intermediate_dim,
        dropout,
        pooling,
        positions="learned",
        stem_channels=(),
    ):
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
        self.dropout = keras.layers.Dropout(dropout, name="embeddings_dropout")
        self.class_token = (
            PrependToken(hidden_dim, name="class_token") if pooling == "class_token" else None
        )
        self.all_valid = AllValidMask(name="all_valid_mask")
        self.stack = BlockStack(num_layers, num_heads, intermediate_dim, dropout, pooling)

    def __call__(self, inputs, padding_mask=None, patch_mask=None):
        """Images (B, H, W, C) or spectrograms (B, T, M) → tower outputs.

        Args:
            padding_mask: (B, N) patch validity (None = all valid).
            patch_mask: (B, N) bool, patches replaced by the mask token (masked modelling).
        Returns:
            {"sequence_output" (B, L, H) [class token first], "pooled_output" (B, H),
             "patch_output" (B, N, H), "padding_mask" (B, L)}.
        """
        x = self.patch_embedding(inputs, patch_mask=patch_mask)  # (B, N, H)
        if patch_mask is not None:
            x = self.mask_tokens(x, patch_mask)
        x = self.dropout(self.add([x, self.position_embedding(x)]))
        if padding_mask is None:
            padding_mask = self.all_valid(x)
        if self.class_token is not None:
            x, padding_mask = self.class_token(x, padding_mask)
        outputs = self.stack(x, padding_mask)
        sequence = outputs["sequence_output"]
        outputs["patch_output"] = sequence if self.class_token is None else sequence[:, 1:]
        outputs["padding_mask"] = padding_mask
        return outputs
