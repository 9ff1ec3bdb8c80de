"""Cross-modal attention maps of a fusion encoder, read without changing the saved model.

`fusion_attention_model` builds, on the fusion encoder's own layers (shared weights), a
functional model whose outputs are the cross-attention probabilities of every fusion block:
one (B, num_heads, Lq, Lc) map per layer and query modality. The saved backbone is untouched;
the probe is built when needed (`MultimodalBackbone.attention_model`) and is not serialized.

The keys of modality m's map are its context: the null token, then the other modalities'
sequences in the fusion's modality order (`key_segments` says which columns are which).
"""

from mmlm.backend import keras, tf


class FusionBlockAttention(keras.layers.Layer):
    """The cross-attention probabilities of one `CrossModalFusionBlock` (its weights).

    Masked keys and padded queries are set to exactly 0 (the model gives a masked key at most
    exp(-30) of a real key's weight; see `FiniteMaskSoftmax`), so a row of a real query sums
    to 1 over its unmasked keys and a padded query's row is 0.

    Args:
        block: the `CrossModalFusionBlock` to read.

    Call arguments: those of `CrossModalFusionBlock.cross_attention_scores`, masks required.

    Not serializable: it exists only inside probes built from a loaded model.
    """

    def __init__(self, block, **kwargs):
        kwargs["dtype"] = "float32"  # probabilities in float32 whatever the block computes in
        super().__init__(**kwargs)
        self.block = block

    def call(self, decoder_sequence, encoder_sequence, decoder_padding_mask, encoder_padding_mask):
        scores = self.block.cross_attention_scores(
            decoder_sequence, encoder_sequence, decoder_padding_mask, encoder_padding_mask
        )  # (B, heads, Lq, Lc)
        scores = tf.cast(scores, tf.float32)
        keys = tf.cast(encoder_padding_mask, tf.float32)[:, None, None, :]  # (B, 1, 1, Lc)
        queries = tf.cast(decoder_padding_mask, tf.float32)[:, None, :, None]  # (B, 1, Lq, 1)
        return scores * keys * queries


def map_name(layer, modality):
    """Output name of the map of `modality`'s queries in fusion layer `layer`."""
    return f"layer_{layer}/{modality}"


def fusion_attention_model(fusion_encoder):
    """A functional model: the fusion encoder's inputs → {`map_name(l, m)`: (B, heads, Lq, Lc)}.

    Each fusion block is read at the inputs it gets inside `fusion_encoder` (its first call
    node, made when the encoder built its graph), so the maps are those of the real forward
    pass. A fusion over one modality has no cross-attention: the model has no outputs then.
    """
    outputs = {}
    for layer in range(fusion_encoder.num_layers if len(fusion_encoder.modalities) > 1 else 0):
        for m in fusion_encoder.modalities:
            block = fusion_encoder.get_layer(f"fusion_{layer}_{m}")
            node = block.inbound_nodes[0]
            (query,) = node.call_args
            kwargs = node.call_kwargs
            outputs[map_name(layer, m)] = FusionBlockAttention(
                block, name=f"attention_{layer}_{m}"
            )(
                query,
                kwargs["encoder_sequence"],
                kwargs["decoder_padding_mask"],
                kwargs["encoder_padding_mask"],
            )
    if not outputs:
        raise ValueError(
            f"the fusion over {list(fusion_encoder.modalities)} has no cross-modal attention "
            "(it needs two modalities and at least one layer)"
        )
    return keras.Model(fusion_encoder.input, outputs, name="fusion_attention_model")


def key_segments(modalities, sequence_lengths, class_tokens=()):
    """Which key columns of modality m's maps belong to what, per query modality.

    Args:
        modalities: the fusion's modalities, in order.
        sequence_lengths: {modality: length of its encoder's sequence}.
        class_tokens: modalities whose sequence starts with a class token (not a patch).

    Returns:
        {query modality: {"null": slice, other modality: slice of its patches/tokens}}; a
        class token's column is left out of its modality's slice.
    """
    segments = {}
    for m in modalities:
        start, parts = 1, {"null": slice(0, 1)}
        for other in (o for o in modalities if o != m):
            skip = 1 if other in class_tokens else 0
            parts[other] = slice(start + skip, start + sequence_lengths[other])
            start += sequence_lengths[other]
        segments[m] = parts
    return segments
