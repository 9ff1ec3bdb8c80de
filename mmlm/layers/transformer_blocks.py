"""Transformer blocks: keras-nlp's encoder/decoder layers, made prunable.

keras-nlp's layers are mask-aware, support a key/value cache for decoding and serialize; these
subclasses only add `get_prunable_weights` (see `prunable.py`), attention masking that full-int8
TFLite can quantize (see `finite_masks.py`), memory-efficient attention as an option (see
`chunked_attention.py`), recomputation of whole blocks in the backward pass as a training-time
option (`recompute_blocks`) and mmlm's registered names, and pin the choices every mmlm tower
shares (pre-LayerNorm, GELU).
"""

from keras_nlp.src.layers.modeling.transformer_layer_utils import (
    merge_padding_and_attention_mask,
)

from mmlm.backend import keras, keras_nlp, register, tf
from mmlm.layers.chunked_attention import (
    DEFAULT_CHUNK_SIZE,
    check_attention_implementation,
    use_chunked_attention,
)
from mmlm.layers.config_fields import with_fields
from mmlm.layers.finite_masks import use_finite_masks
from mmlm.layers.prunable import PrunableKernelsMixin

_DEFAULTS = {"normalize_first": True, "activation": "gelu", "layer_norm_epsilon": 1e-6}


def _with_defaults(kwargs):
    return {**_DEFAULTS, **kwargs}


# keras-nlp decoder arguments that mean "decoding with a key/value cache", never recomputed.
_CACHE_ARGUMENTS = ("self_attention_cache", "cross_attention_cache")


class _AttentionMixin:
    """Masks attention with `FiniteMaskSoftmax` (int8-quantizable) instead of adding -1e9,
    computes it densely or in recomputed query chunks (`attention_implementation`), and
    recomputes the whole block in the backward pass when `recompute` is set."""

    # Set by `recompute_blocks`: how a run trains, not what the model computes, so it is not
    # part of the config (a saved or exported model never carries it).
    recompute = False

    def __init__(
        self,
        *args,
        attention_implementation="dense",
        attention_chunk_size=DEFAULT_CHUNK_SIZE,
        **kwargs,
    ):
        check_attention_implementation(attention_implementation, attention_chunk_size)
        # Set before keras-nlp's __init__, which builds the layer when revived from a config.
        self.attention_implementation = attention_implementation
        self.attention_chunk_size = attention_chunk_size
        super().__init__(*args, **kwargs)

    def build(self, *args, **kwargs):
        super().build(*args, **kwargs)
        for name in ("_self_attention_layer", "_cross_attention_layer"):
            attention = getattr(self, name, None)
            if attention is not None and hasattr(attention, "_softmax"):
                use_finite_masks(attention)
                if self.attention_implementation == "chunked":
                    use_chunked_attention(attention, self.attention_chunk_size)

    def get_config(self):
        fields = ("attention_implementation", "attention_chunk_size")
        return with_fields(super().get_config(), self, fields)

    def _maybe_recomputed(self, forward, tensors, training):
        """`forward(*tensors)`; in training with `recompute` set, through `tf.recompute_grad`:
        the block keeps only its inputs for the backward pass and runs its forward pass again
        there, instead of keeping every intermediate activation."""
        if self.recompute and training is True:
            return tf.recompute_grad(forward)(*tensors)
        return forward(*tensors)


def recompute_blocks(model):
    """Recomputes every Transformer block of `model` in its backward passes (activation
    checkpointing per block).

    Training then keeps each block's input instead of all its activations (the attention
    projections, the feed-forward's 4x-wide hidden layer, the layer norms), for one more
    forward pass of each block per step: about a third more compute. Inference, saving and
    export are unchanged. Under XLA the compiler may merge the recomputation back into the
    forward pass and keep the activations.

    Args:
        model: a Keras model or layer; its blocks are found among its nested layers.
    Returns:
        The number of blocks set to recompute.
    Raises:
        ValueError: naming a block with dropout, whose recomputation would draw a different
            dropout mask than its forward pass (so the gradient would be wrong).
    """
    blocks = [
        layer
        for layer in model._flatten_layers(include_self=True, recursive=True)
        if isinstance(layer, _AttentionMixin)
    ]
    for block in blocks:
        if block.dropout > 0:
            raise ValueError(
                f"Cannot recompute block {block.name!r}: its dropout is {block.dropout}, and a "
                "recomputed block draws a new dropout mask; use dropout 0 with block "
                "recomputation."
            )
    for block in blocks:
        block.recompute = True
    return len(blocks)


@register
class TransformerEncoderBlock(
    _AttentionMixin, PrunableKernelsMixin, keras_nlp.layers.TransformerEncoder
):
    """Pre-LN self-attention + feed-forward block (keras-nlp `TransformerEncoder`).

    Args:
        intermediate_dim: feed-forward width.
        num_heads: attention heads.
        dropout: dropout rate.
        attention_implementation: "dense" (keras' attention) or "chunked" (exact attention in
            recomputed query chunks: O(chunk · length) memory instead of O(length²); see
            `chunked_attention.py`).
        attention_chunk_size: queries per chunk of the chunked attention.
        **kwargs: any other `keras_nlp.layers.TransformerEncoder` argument.

    Call arguments:
        inputs: (B, L, H) sequence.
        padding_mask: optional (B, L) bool, True for real positions.

    Example:
    >>> block = TransformerEncoderBlock(intermediate_dim=64, num_heads=2)
    >>> block(tf.zeros((2, 5, 16))).shape
    TensorShape([2, 5, 16])
    """

    def __init__(self, intermediate_dim, num_heads, dropout=0.0, **kwargs):
        super().__init__(intermediate_dim, num_heads, dropout=dropout, **_with_defaults(kwargs))

    def call(self, inputs, padding_mask=None, attention_mask=None, training=None):
        call = super().call

        def forward(sequence):
            return call(sequence, padding_mask, attention_mask, training=training)

        return self._maybe_recomputed(forward, [inputs], training)


@register
class TransformerDecoderBlock(
    _AttentionMixin, PrunableKernelsMixin, keras_nlp.layers.TransformerDecoder
):
    """Pre-LN causal self-attention + cross-attention + feed-forward block.

    keras-nlp's `TransformerDecoder` (which keeps a key/value cache for decoding); the
    cross-attention is active when an `encoder_sequence` is passed.

    Args:
        intermediate_dim: feed-forward width.
        num_heads: attention heads.
        dropout: dropout rate.
        attention_implementation, attention_chunk_size: as for `TransformerEncoderBlock`
            (decoding with a key/value cache always attends densely).
        **kwargs: any other `keras_nlp.layers.TransformerDecoder` argument.

    Call arguments: those of `keras_nlp.layers.TransformerDecoder`.
    """

    def __init__(self, intermediate_dim, num_heads, dropout=0.0, **kwargs):
        super().__init__(intermediate_dim, num_heads, dropout=dropout, **_with_defaults(kwargs))

    def call(self, decoder_sequence, encoder_sequence=None, training=None, **kwargs):
        call = super().call
        if any(kwargs.get(name) is not None for name in _CACHE_ARGUMENTS):
            return call(decoder_sequence, encoder_sequence, training=training, **kwargs)

        def forward(sequence, *context):
            return call(sequence, *context, training=training, **kwargs)

        tensors = [decoder_sequence] + ([] if encoder_sequence is None else [encoder_sequence])
        return self._maybe_recomputed(forward, tensors, training)


@register
class CrossModalFusionBlock(TransformerDecoderBlock):
    """Queries of one modality attend to themselves, then to the other modalities.

    A non-causal decoder block: self-attention over the query sequence, cross-attention from the
    queries to the context (the other modalities' tokens, concatenated), feed-forward. Stack one
    per layer and modality. The context must hold at least one valid position per row (the
    fusion encoder prepends an always-valid null token), so a row whose other modalities are all
    missing attends to the null token instead of averaging padding.

    Call arguments (keras-nlp's names, which its `__call__` requires):
        decoder_sequence: (B, Lq, H) the queries: the modality being updated.
        encoder_sequence: (B, Lc, H) the context: the other modalities.
        decoder_padding_mask: (B, Lq) bool.
        encoder_padding_mask: (B, Lc) bool.

    Example:
    >>> block = CrossModalFusionBlock(intermediate_dim=64, num_heads=2)
    >>> block(tf.zeros((2, 5, 16)), tf.zeros((2, 7, 16))).shape
    TensorShape([2, 5, 16])
    """

    def call(
        self,
        decoder_sequence,
        encoder_sequence=None,
        decoder_padding_mask=None,
        encoder_padding_mask=None,
        training=None,
        **kwargs,
    ):
        kwargs["use_causal_mask"] = False
        return super().call(
            decoder_sequence,
            encoder_sequence=encoder_sequence,
            decoder_padding_mask=decoder_padding_mask,
            encoder_padding_mask=encoder_padding_mask,
            training=training,
            **kwargs,
        )

    def cross_attention_scores(
        self,
        decoder_sequence,
        encoder_sequence,
        decoder_padding_mask=None,
        encoder_padding_mask=None,
    ):
        """The cross-attention probabilities this block computes, (B, num_heads, Lq, Lc).

        Runs the self-attention sub-block as `call` does (inference mode), then the
        cross-attention through `keras.layers.MultiHeadAttention.call` with
        `return_attention_scores=True` (keras-nlp's cached attention cannot return them): the
        same weights, masks and softmax, so a saved model need not change to be inspected.
        Arguments as in `call`.
        """
        # As the block's own __call__ does: a block of a mixed-precision model computes in its
        # compute dtype whatever policy the caller runs under.
        decoder_sequence = tf.cast(decoder_sequence, self.compute_dtype)
        encoder_sequence = tf.cast(encoder_sequence, self.compute_dtype)
        self_mask = merge_padding_and_attention_mask(decoder_sequence, decoder_padding_mask, None)
        x = decoder_sequence
        if self.normalize_first:
            x = self._self_attention_layer_norm(x)
        x = self._self_attention_layer(query=x, value=x, attention_mask=self_mask)
        x = x + decoder_sequence
        if self.normalize_first:
            x = self._cross_attention_layer_norm(x)
        else:
            x = self._self_attention_layer_norm(x)
        cross_mask = merge_padding_and_attention_mask(encoder_sequence, encoder_padding_mask, None)
        _, scores = keras.layers.MultiHeadAttention.call(
            self._cross_attention_layer,
            query=x,
            value=encoder_sequence,
            attention_mask=cross_mask,
            return_attention_scores=True,
        )
        return scores
