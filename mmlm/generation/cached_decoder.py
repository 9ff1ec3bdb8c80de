"""A `TextDecoder` run one token at a time with key/value caches.

Each new token costs one decoder step over one position instead of a re-run over the whole
prefix. The prefill (prompt) runs keras-nlp's own cached `TransformerDecoder` call. The
per-token step runs the same block's sublayers (LayerNorms, the attention layers' projections
and their `_masked_softmax`, the feed-forward) on separate key and value tensors: keras-nlp's
cache layout (B, 2, L, heads, head_dim) makes every step slice the key and value out of it and
stack them back, which copies the read-only cross-attention cache (the largest tensor of
decoding) on every token. `tests/generation` checks the step against the plain decoder.
"""

import math

from tensorflow.compiler.tf2xla.python.xla import dynamic_update_slice

from mmlm.backend import tf


class CachedDecoder:
    """Cached forward passes of a `TextDecoder` (the same weights; nothing is copied).

    A cache is a dict of tuples with one tensor per decoder block: `self_key`, `self_value`
    (B, max_length, num_heads, head_dim), updated at each step's index (a loop variable), and
    `cross_key`, `cross_value` (B, Le, num_heads, head_dim), computed once and only read.

    Args:
        decoder: a `TextDecoder` (pre-LayerNorm blocks, as mmlm builds them).

    Example:
    >>> cached = CachedDecoder(decoder)
    >>> logits, cache = cached.prefill(token_ids, sequence, padding_mask)
    >>> logits, cache = cached.step(token_ids[:, 3:4], 3, cache, padding_mask)
    """

    def __init__(self, decoder):
        if not all(block.normalize_first for block in decoder.blocks):
            raise ValueError("CachedDecoder supports pre-LayerNorm blocks (normalize_first)")
        self.decoder = decoder
        attention = decoder.blocks[0]._self_attention_layer
        self.num_heads = attention._num_heads
        self.head_dim = attention._key_dim

    def prefill(self, token_ids, encoder_sequence, encoder_padding_mask):
        """Runs the decoder over a whole buffer, filling both caches.

        Args:
            token_ids: (B, L) int32, the buffer generation will write into (prompt first); L is
                the longest sequence the cache holds.
            encoder_sequence: (B, Le, H) what the decoder attends to (the fused sequence).
            encoder_padding_mask: (B, Le) bool.

        Returns:
            (logits (B, L, V) float32, cache). Positions after the prompt hold whatever
            `token_ids` has there; each `step` overwrites its own position before reading it.
        """
        d = self.decoder
        batch_size = tf.shape(token_ids)[0]
        dtype = d.blocks[0].compute_dtype

        def empty(length):
            return tf.zeros([batch_size, 2, length, self.num_heads, self.head_dim], dtype)

        x = self._embed(token_ids, 0)
        cache = {key: [] for key in ("self_key", "self_value", "cross_key", "cross_value")}
        for block in d.blocks:
            x, self_cache, cross_cache = block(
                x,
                encoder_sequence,
                encoder_padding_mask=encoder_padding_mask,
                self_attention_cache=empty(tf.shape(token_ids)[1]),
                self_attention_cache_update_index=0,
                cross_attention_cache=empty(tf.shape(encoder_sequence)[1]),
                cross_attention_cache_update_index=0,
                training=False,
            )
            for kind, kv in (("self", self_cache), ("cross", cross_cache)):
                cache[f"{kind}_key"].append(kv[:, 0])
                cache[f"{kind}_value"].append(kv[:, 1])
        logits = d.lm_head(d.final_norm(x))
        return logits, {key: tuple(value) for key, value in cache.items()}

    def step(self, token_ids, index, cache, encoder_padding_mask):
        """Next-token logits of `token_ids` (B, 1) at position `index`.

        Returns:
            (logits (B, 1, V) float32, the cache with that position's keys and values).
        """
        if token_ids.shape.rank != 2 or token_ids.shape[1] != 1:
            # A (B, None) slice would make XLA pad every step's query to its bound, the
            # whole buffer: O(L) per token, the cost the cache exists to avoid.
            raise ValueError(
                f"step takes (B, 1) token ids of static length 1, got {token_ids.shape}"
            )
        x = self._embed(token_ids, index)  # (B, 1, H)
        length = tf.shape(cache["self_key"][0])[1]
        self_mask = (tf.range(length) <= index)[None, None, :]  # (1, 1, L): causal
        cross_mask = encoder_padding_mask[:, None, :]  # (B, 1, Le)
        self_keys, self_values = [], []
        for layer, block in enumerate(self.decoder.blocks):
            attention = block._self_attention_layer
            h = block._self_attention_layer_norm(x)
            start = [0, index, 0, 0]
            key = _update(cache["self_key"][layer], attention._key_dense(h), start)
            value = _update(cache["self_value"][layer], attention._value_dense(h), start)
            x = x + self._attend(attention, h, key, value, self_mask)
            self_keys.append(key)
            self_values.append(value)

            h = block._cross_attention_layer_norm(x)
            x = x + self._attend(
                block._cross_attention_layer,
                h,
                cache["cross_key"][layer],
                cache["cross_value"][layer],
                cross_mask,
            )
            h = block._feedforward_layer_norm(x)
            x = x + block._feedforward_output_dense(block._feedforward_intermediate_dense(h))
        logits = self.decoder.lm_head(self.decoder.final_norm(x))
        cache = dict(cache, self_key=tuple(self_keys), self_value=tuple(self_values))
        return logits, cache

    def _embed(self, token_ids, index):
        d = self.decoder
        tokens = d.token_embedding(token_ids)
        return tokens + d.position_embedding(tokens, start_index=index)

    def _attend(self, attention, h, key, value, mask):
        """The attention layer's output for queries `h` over the given keys and values."""
        query = attention._query_dense(h) * (1.0 / math.sqrt(self.head_dim))
        scores = tf.einsum(attention._dot_product_equation, key, query)
        scores = attention._masked_softmax(scores, mask)
        return attention._output_dense(tf.einsum(attention._combine_equation, scores, value))


def _update(cache, update, start):
    """`cache` with `update` written at `start` (XLA's DynamicUpdateSlice, as keras-nlp)."""
    return dynamic_update_slice(cache, update, start)
