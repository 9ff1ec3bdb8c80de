"""ViT image encoder."""

from mmlm.backend import keras, register
from mmlm.layers.chunked_attention import DEFAULT_CHUNK_SIZE
from mmlm.models.encoder import TOWER_FIELDS, PatchTower, Tower, tower_sizes


@register
class ViTEncoder(Tower):
    """Vision Transformer: square patches → pre-LN Transformer, class-token or mean pooling.

    Args:
        image_size: side of the square input images.
        patch_size: side of the square patches.
        hidden_dim, num_layers, num_heads, intermediate_dim, dropout: tower size.
        pooling: "mean" (over patches) or "class_token".
        patch_positions: "learned" or "sincos" (fixed 2-D sine-cosine).
        stem_channels: channels of the 3x3 stride-2 convs before the patch projection (a
            convolutional stem; empty: linear patches).
        attention_implementation: "dense" or "chunked" (exact attention in recomputed query
            chunks, for long sequences; `mmlm.layers.TransformerEncoderBlock`).
        attention_chunk_size: queries per chunk of the chunked attention.
        patch_dropout: share of the patches dropped in training passes (FLIP; 0: none):
            training outputs hold the kept patches only; evaluation sees them all.

    Inputs (dict):
        images: (B, S, S, 3) float in [0, 1].

    Outputs (dict):
        sequence_output (B, L, H), pooled_output (B, H), patch_output (B, N, H),
        padding_mask (B, L).

    `masked_encoder` is the same tower (same weights) with a second input, `patch_mask`
    (B, N) bool: those patches are replaced by a learned mask token (masked image modelling).

    Example:
    >>> encoder = ViTEncoder(32, 8, 32, 1, 2, 64)
    >>> encoder({"images": tf.zeros((2, 32, 32, 3))})["patch_output"].shape
    TensorShape([2, 16, 32])
    """

    config_fields = TOWER_FIELDS + (
        "image_size",
        "patch_size",
        "patch_positions",
        "stem_channels",
        "patch_dropout",
    )

    def __init__(
        self,
        image_size,
        patch_size,
        hidden_dim,
        num_layers,
        num_heads,
        intermediate_dim,
        dropout=0.0,
        pooling="mean",
        patch_positions="learned",
        stem_channels=(),
        attention_implementation="dense",
        attention_chunk_size=DEFAULT_CHUNK_SIZE,
        patch_dropout=0.0,
        **kwargs,
    ):
        side = image_size // patch_size
        num_patches = side * side
        stem_channels = tuple(stem_channels)
        tower = PatchTower(
            (side, side),
            patch_size,
            tower_sizes(locals()),
            patch_positions,
            stem_channels,
            patch_dropout,
        )
        rescale = keras.layers.Rescaling(2.0, offset=-1.0, name="rescale")  # [0, 1] → [-1, 1]

        def image_input(name):
            return keras.Input((image_size, image_size, 3), name=name)

        images = image_input("images")
        super().__init__(inputs={"images": images}, outputs=tower(rescale(images)), **kwargs)
        masked_images = image_input("images")
        patch_mask = keras.Input((num_patches,), dtype="bool", name="patch_mask")
        self.masked_encoder = keras.Model(
            {"images": masked_images, "patch_mask": patch_mask},
            tower(rescale(masked_images), patch_mask=patch_mask),
            name=f"{self.name}_masked",
        )
        self.num_patches = num_patches
        self.store_config(locals())
