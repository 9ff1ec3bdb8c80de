"""Exact attention in query chunks, recomputed in the backward pass (memory-efficient).

Dense attention keeps (B, N, T, S) scores and probabilities of every layer alive until the
backward pass: at batch 64, 4 heads and 512 tokens that is 268 MB per tensor and several
tensors per layer. Here the queries are split into chunks of `chunk_size`; each chunk attends
to every key with an ordinary (exact, not approximated) softmax, and `tf.recompute_grad`
drops the chunk's scores after the forward pass and recomputes them when its gradient is
needed (Rabe & Staats, "Self-attention does not need O(n²) memory", 2021, with query chunks
only). Only one chunk's (B, N, chunk_size, S) scores exist at a time, so the attention memory
of a layer falls from O(T·S) to O(chunk_size·S) plus the O(T) inputs and outputs; the price
is one more forward pass of the score and weighting einsums in the backward pass.

Keys are not chunked: at the lengths mmlm trains (≤ 2048) one query chunk's scores over all
keys are small (64 × 4 × 128 × 2048 floats = 268 MB at batch 64), so the online softmax over
key chunks would add work without a memory need.

The softmax runs in float32 under mixed precision, with the masking of `FiniteMaskSoftmax`;
in float32 the result equals dense attention up to float rounding. Attention dropout draws
its mask statelessly from a seed drawn once per call, so the recomputation drops the same
weights as the forward pass.
"""

import math

from mmlm.backend import keras, keras_nlp, register, tf
from mmlm.layers.finite_masks import FiniteMaskSoftmax

ATTENTION_IMPLEMENTATIONS = ("dense", "chunked")
DEFAULT_CHUNK_SIZE = 128


def check_attention_implementation(implementation, chunk_size):
    """Raises a ValueError naming the bad argument and the valid values."""
    if implementation not in ATTENTION_IMPLEMENTATIONS:
        raise ValueError(
            f"attention_implementation must be one of {ATTENTION_IMPLEMENTATIONS}, got "
            f"{implementation!r}."
        )
    if not isinstance(chunk_size, int) or isinstance(chunk_size, bool) or chunk_size < 1:
        raise ValueError(f"attention_chunk_size must be an int >= 1, got {chunk_size!r}.")


class _ChunkedAttentionMixin:
    """The query-chunked computation, used by the `call` of the two classes below.

    Keras' own `_compute_attention` stays untouched: code that asks
    `MultiHeadAttention.call` for the attention scores (attention maps) still gets them, from
    the dense computation.
    """

    attention_chunk_size = DEFAULT_CHUNK_SIZE

    def _chunked_call(self, query, value, key, attention_mask, training):
        """Projections → chunked attention → output projection; (B, T, dim)."""
        key = value if key is None else key
        query = self._query_dense(query)  # (B, T, N, H)
        key, value = self._key_dense(key), self._value_dense(value)  # (B, S, N, H)
        output = self._chunked_attention(query, key, value, attention_mask, training)
        return self._output_dense(output)

    def _chunked_attention(self, query, key, value, attention_mask=None, training=None):
        """query (B, T, N, H), key (B, S, N, H), value (B, S, N, Hv), mask (B, T|1, S)
        → (B, T, N, Hv); the weights are never materialized whole."""
        query = tf.multiply(query, tf.cast(1.0 / math.sqrt(float(self._key_dim)), query.dtype))
        rate = float(self._dropout)
        if rate > 0.0:
            seed = tf.random.uniform([2], maxval=2**31 - 1, dtype=tf.int32)
            training = tf.constant(False) if training is None else tf.cast(training, tf.bool)
        else:
            seed, training = tf.zeros([2], tf.int32), tf.constant(False)
        return chunked_attention(
            self._attend_chunk, query, key, value, attention_mask, seed, training,
            self.attention_chunk_size,
        )  # fmt: skip

    def _attend_chunk(self, query, key, value, mask, seed, training):
        """Dense attention of one query chunk; softmax in float32."""
        scores = tf.einsum(self._dot_product_equation, key, query)  # (B, N, C, S)
        if mask is not None:
            mask = tf.expand_dims(mask, axis=1)  # (B, 1, C|1, S): every head
        probs = self._float32_softmax(tf.cast(scores, tf.float32), mask)
        probs = tf.cast(probs, value.dtype)
        rate = float(self._dropout)
        if rate > 0.0:
            dropped = tf.nn.experimental.stateless_dropout(probs, rate, seed)
            probs = tf.cond(training, lambda: dropped, lambda: probs)
        return tf.einsum(self._combine_equation, probs, value)  # (B, C, N, Hv)


def chunked_attention(attend, query, key, value, mask, seed, training, chunk_size):
    """`attend(q, key, value, mask, seed, training)` over query chunks, each recomputed.

    Args:
        attend: dense attention of a (B, C, N, H) query chunk → (B, C, N, Hv).
        query: (B, T, N, H), already scaled.
        key, value: (B, S, N, H), (B, S, N, Hv).
        mask: None, (B, 1, S) (the same for every query) or (B, T, S); True/1 = attend.
            The chunks see it as int32 (None: all ones), as `tf.recompute_grad` only passes
            tensors.
        seed: (2,) int32 seed of stateless dropout (chunk i uses seed + [i, 0]).
        training: scalar bool tensor (dropout on or off).
        chunk_size: queries per chunk; the last chunk is padded with zero queries, whose
            outputs are dropped.
    Returns:
        (B, T, N, Hv).
    """
    static_length = query.shape[1]
    if static_length is not None and static_length <= chunk_size:
        return attend(query, key, value, mask, seed, training)  # one chunk: nothing to save
    shape = tf.shape(query)
    batch, length = shape[0], shape[1]
    num_chunks = (length + chunk_size - 1) // chunk_size
    pad = num_chunks * chunk_size - length

    def chunks(tensor):
        # (B, T, ...) → (num_chunks, B, chunk_size, ...), the padding rows at the end.
        tensor = tf.pad(tensor, [[0, 0], [0, pad]] + [[0, 0]] * (len(tensor.shape) - 2))
        rest = tf.shape(tensor)[2:]
        tensor = tf.reshape(tensor, tf.concat([[batch, num_chunks, chunk_size], rest], 0))
        return tf.experimental.numpy.swapaxes(tensor, 0, 1)

    if mask is None:
        mask = tf.ones([batch, 1, tf.shape(key)[1]], tf.int32)
    mask = tf.cast(mask, tf.int32)
    per_query_mask = mask.shape[1] != 1
    # `training` is closed over: recompute_grad differentiates every argument, and a bool
    # tensor cannot be one.
    recomputed = tf.recompute_grad(lambda q, k, v, m, s: attend(q, k, v, m, s, training))
    elements = [chunks(query), tf.range(num_chunks)]
    if per_query_mask:
        elements.append(chunks(mask))

    def one_chunk(element):
        chunk_mask = element[2] if per_query_mask else mask
        return recomputed(element[0], key, value, chunk_mask, seed + [element[1], 0])

    outputs = tf.map_fn(
        one_chunk, elements, fn_output_signature=tf.TensorSpec(None, value.dtype)
    )  # (num_chunks, B, chunk_size, N, Hv)
    outputs = tf.experimental.numpy.swapaxes(outputs, 0, 1)
    out_shape = tf.concat([[batch, num_chunks * chunk_size], tf.shape(outputs)[3:]], 0)
    outputs = tf.reshape(outputs, out_shape)[:, :length]
    return tf.ensure_shape(outputs, query.shape[:-1].concatenate(value.shape[-1:]))


@register
class ChunkedMultiHeadAttention(_ChunkedAttentionMixin, keras.layers.MultiHeadAttention):
    """`keras.layers.MultiHeadAttention` computing attention in recomputed query chunks.

    Same weights, arguments and outputs as the Keras layer; asked for the attention scores
    (`return_attention_scores=True`) or given ragged inputs, it computes densely, as Keras.
    Set `attention_chunk_size` after construction (see `use_chunked_attention`).
    """

    def call(
        self,
        query,
        value,
        key=None,
        attention_mask=None,
        return_attention_scores=False,
        training=None,
        use_causal_mask=False,
    ):
        if return_attention_scores or isinstance(query, tf.RaggedTensor):
            return super().call(
                query, value, key, attention_mask, return_attention_scores, training,
                use_causal_mask,
            )  # fmt: skip
        # Keras' merge of the inputs' implicit masks and the causal mask, unchanged.
        attention_mask = self._compute_attention_mask(
            query, value, key=key, attention_mask=attention_mask, use_causal_mask=use_causal_mask
        )
        return self._chunked_call(query, value, key, attention_mask, training)


@register
class ChunkedCachedMultiHeadAttention(
    _ChunkedAttentionMixin, keras_nlp.layers.CachedMultiHeadAttention
):
    """keras-nlp's `CachedMultiHeadAttention` computing attention in recomputed query chunks.

    With a key/value cache (decoding: one or few queries per call) it runs keras-nlp's dense
    computation; without one (training, scoring) the chunked one.
    """

    def call(
        self,
        query,
        value,
        key=None,
        attention_mask=None,
        cache=None,
        cache_update_index=None,
        training=None,
    ):
        if cache is not None or cache_update_index is not None:
            return super().call(
                query, value, key, attention_mask, cache, cache_update_index, training
            )
        return self._chunked_call(query, value, key, attention_mask, training)


_CHUNKED_CLASSES = {
    keras.layers.MultiHeadAttention: ChunkedMultiHeadAttention,
    keras_nlp.layers.CachedMultiHeadAttention: ChunkedCachedMultiHeadAttention,
}


def use_chunked_attention(attention, chunk_size):
    """Makes a built (Cached)MultiHeadAttention compute in query chunks of `chunk_size`.

    keras-nlp's blocks create their attention layers inside `build`; switching the class of
    the built layer (a subclass that only overrides the computation, same weights) avoids
    copying that `build`.
    """
    chunked = _CHUNKED_CLASSES.get(type(attention))
    if chunked is None:
        raise TypeError(f"No chunked attention for {type(attention).__name__}.")
    attention.__class__ = chunked
    attention.attention_chunk_size = chunk_size
    # The softmax of the chunks: float32 under mixed precision, masked as in `finite_masks`.
    attention._float32_softmax = FiniteMaskSoftmax(axis=attention._softmax.axis, dtype="float32")
